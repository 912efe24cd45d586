"""The hostile-code battery: answers that try to escape, leak, fake a pass or leave processes.

Used by tests/test_sandbox.py in-process (as root here) and, as a script, under another user
(``setpriv --reuid=nobody python sandbox_battery.py``): it reads a JSON request on stdin and
prints one JSON result per attack. Each answer defines a WRONG ``rle_encode`` (``return s``),
so any pass is a fake pass. Placeholders: {target} (a host file in a folder anyone may write),
{secret_file} (a host file anyone may read), {port} (a host listener on 127.0.0.1), {marker}
(in the argv of every process an answer starts, to find orphans).
"""

from __future__ import annotations

import json
import sys
from typing import Any

WRONG = "def rle_encode(s):\n    return s\n"
TESTS = 'assert rle_encode("") == ""\nassert rle_encode("aaabcc") == "a3b1c2"\n'
RIGHT = (
    "def rle_encode(s):\n    out, i = [], 0\n    while i < len(s):\n        j = i\n"
    "        while j < len(s) and s[j] == s[i]:\n            j += 1\n"
    "        out.append(f'{s[i]}{j - i}')\n        i = j\n    return ''.join(out)\n"
)

# Escapes, leaks, resource abuse: the answer's attack runs at import, wrapped so the module goes on.
CONTAINMENT = {
    # sandbox.md 1: a direct fork_exec (no audit event) with a new session, to outlive the kill.
    "escapes with _posixsubprocess.fork_exec and setsid": (
        "import _posixsubprocess, os, subprocess\n"
        "argv = [b'/bin/sh', b'-c', b'sleep 3; echo escaped > {target}', b'{marker}']\n"
        "errpipe = os.pipe()\n"
        "_posixsubprocess.fork_exec(argv, [b'/bin/sh'], True, (errpipe[1],), None, None, -1, -1, -1,"
        " -1, -1, -1, *errpipe, False, True, -1, None, None, None, -1, None, False)\n"
    ),
    "loops forever": "while True:\n    pass\n",
    "allocates 10 GB": "x = bytearray(10 * 1024 ** 3)\n",
    "fork-bombs": (
        "import os\nwhile True:\n    if os.fork() == 0:\n"
        "        os.execv('/bin/sh', ['sh', '-c', 'while :; do sleep 1; done', '{marker}'])\n"
    ),
    "runs a shell that writes outside": (
        "import subprocess\nsubprocess.run(['sh', '-c', 'echo pwned > {target}', '{marker}'])\n"
    ),
    "writes outside": "open({target!r}, 'w').write('pwned')\n",
    # sandbox.md 3: the parent's environment through /proc, in Python and through a shell.
    "reads the parent's environment": (
        "import os\nprint(open('/proc/self/../%d/environ' % os.getppid()).read())\n"
    ),
    "dumps every environ with cat": (
        "import subprocess\nprint(subprocess.run('cat /proc/*/environ; env', shell=True,"
        " capture_output=True, text=True).stdout)\n"
    ),
    "reads a host file and the home folder": (
        "import os\nprint(open({secret_file!r}).read())\nprint(os.listdir(os.path.expanduser('~root')))\n"
    ),
    "opens a socket": "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
    "kills every process it can": "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
    "kills its parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "uses ctypes": "import ctypes\nctypes.CDLL(None).kill(-1, 9)\n",
    # sandbox.md 4: many files, each under the per-file limit.
    "fills the disk": (
        "import os\nfor i in range(100000):\n"
        "    with open('/tmp/fill%d' % i, 'wb') as f:\n        f.write(b'x' * 1000000)\n"
    ),
}

# Fake passes: a wrong answer that tries to be counted as passed.
FAKE_PASSES = {
    "sys.exit(0) before the tests": "import sys\nsys.exit(0)\n",
    "os._exit(0) before the tests": "import os\nos._exit(0)\n",
    "exits 0 from atexit": "import atexit, os\natexit.register(os._exit, 0)\n",
    "sys.exit(0) during the tests": (
        "import sys\n_real = rle_encode\ndef rle_encode(s):\n    sys.exit(0)\n"
    ),
    "returns an always-equal object": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "def rle_encode(s):\n    return Anything()\n"
    ),
    "returns an always-equal str": (
        "class S(str):\n    __eq__ = lambda self, other: True\n"
        "def rle_encode(s):\n    return S(s)\n"
    ),
    "hides an always-equal object in a list": (
        "class A:\n    __eq__ = lambda self, other: True\n"
        "def rle_encode(s):\n    return [A()]\n"
    ),
    "patches builtins": "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {{}})\n",
    "forges the verdict event": "import sys\nsys.audit('wattbench.verdict', True, '')\n",
    "writes a verdict to every fd": (
        "import json, os\nfor fd in range(3, 64):\n    try:\n"
        "        os.write(fd, json.dumps({{'nonce': 'x', 'passed': True}}).encode() + b'\\n')\n"
        "    except OSError:\n        pass\n"
    ),
    "rewrites the tests": (
        "for path in ('/sandbox/tests.py', 'tests.py'):\n    try:\n"
        "        open(path, 'w').write('pass')\n    except OSError:\n        pass\n"
    ),
    "walks frames to the harness": (
        "import sys\ntry:\n    raise ValueError\nexcept ValueError as e:\n"
        "    frame = e.__traceback__.tb_frame.f_back\n    frame.f_locals['failure'] = None\n"
    ),
    "reads its own memory": "print(open('/proc/self/mem', 'rb').read(10))\n",
    "patches isinstance, reads its memory, puts isinstance back": (
        "import builtins\nreal = builtins.isinstance\nbuiltins.isinstance = lambda *a: True\n"
        "try:\n    open('/proc/self/mem', 'rb')\nfinally:\n    builtins.isinstance = real\n"
    ),
    "patches os.fsdecode to hide /proc": (
        "import os\nos.fsdecode = lambda path: '/tmp/harmless'\nopen('/proc/self/mem', 'rb')\n"
    ),
    "walks the gc for the nonce": "import gc\nprint(len(gc.get_objects()))\n",
    "sets a trace function": "import sys\nsys.settrace(lambda *a: None)\n",
    "patches the harness module": "import __main__\n__main__._equals_anything = lambda *a, **k: False\n",
}


# Attacks that need to start processes get room for them, so that what stops them is the
# sandbox and not RLIMIT_NPROC.
NEEDS_PROCESSES = frozenset({
    "escapes with _posixsubprocess.fork_exec and setsid", "runs a shell that writes outside",
    "dumps every environ with cat",
})


def answer(attack: str, values: dict[str, Any]) -> str:
    """The attack's full answer: the wrong function, then the attack with placeholders filled."""
    code = CONTAINMENT.get(attack) or FAKE_PASSES[attack]
    if attack in CONTAINMENT:
        code = "try:\n" + "".join("    " + line + "\n" for line in code.splitlines()) + (
            "except BaseException as error:\n    print('attack failed:', repr(error))\n"
        )
    return WRONG + code.format(**values)


def run(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Run each attack of ``request`` in the sandbox ``make_sandbox`` picks; results as dicts."""
    from wattbench.scorers.sandbox import Limits, make_sandbox

    sandbox = make_sandbox()
    results = []
    for attack in request["attacks"]:
        limits = Limits(wall_s=8.0, cpu_s=2, processes=4096 if attack in NEEDS_PROCESSES else 64)
        result = sandbox.run(answer(attack, request["values"]), TESTS, "", limits)
        results.append({
            "attack": attack, "passed": result.passed, "reason": result.reason,
            "suspicious": result.suspicious, "sandbox": result.sandbox,
            "text": result.stdout + result.stderr + result.reason + (result.suspicious or ""),
        })
    return results


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
