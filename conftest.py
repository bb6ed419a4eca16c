"""Makes the checkout importable as ansible_collections.certkeeper.pki (see scripts/bootstrap.sh)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".work", "collections"))
