import subprocess
import sys


def test_connectors_import_nothing_from_prefect_or_flows():
    code = (
        "import sys\n"
        "import connectors.archive, connectors.attachments, connectors.mailbox\n"
        "import connectors.mailtext, connectors.outgoing, connectors.settings\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
