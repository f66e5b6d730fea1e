import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # lets the test modules import _kernel_ref
