"""One file per schema version; never edited after it lands."""
