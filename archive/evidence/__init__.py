"""Evidence bundles: one signed WACZ per removal event (archive/evidence/bundle.py)."""
