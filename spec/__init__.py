"""The protocol as data: event examples, the state table, scenario transcripts."""
