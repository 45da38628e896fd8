"""pytest imports test modules by basename (no packages under tests/): two modules of one name in
unit/ and integration/ stop the whole collection with "import file mismatch"."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_modules_share_a_basename():
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "mutants" not in p.parts)
    assert [name for name, count in names.items() if count > 1] == []
