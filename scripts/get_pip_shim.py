"""Stand-in for ansible-test's get-pip bootstrap script, whose download host is out of reach here.

ansible-test runs it as `python get_pip_X_Y.py <pip options> pip==X.Y ...` inside a venv created without
pip: install the pip bundled with Python (ensurepip), then let that pip install what was asked for from
the package index, exactly as get-pip.py would."""

import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
# get-pip's own options; pip install has no such flags
arguments = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *arguments]).returncode)
