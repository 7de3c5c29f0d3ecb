"""Write spec/states.json from the one state table in protocol/states.py: python -m spec.generate_states."""

import json
from pathlib import Path

from protocol.states import table_as_data

if __name__ == "__main__":
    target = Path(__file__).resolve().parent / "states.json"
    target.write_text(json.dumps(table_as_data(), indent=2) + "\n")
