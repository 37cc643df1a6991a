"""Notebook authoring helper: convert jupytext 'percent' scripts to clean nbs/ notebooks with the project kernel.

    python tools/nb.py SRC.py nbs/NN_name.ipynb   # convert one script
    python tools/nb.py --fix-metadata             # normalise metadata of every notebook in nbs/
Only the .ipynb is committed; the script is a scratch file. nbdev_clean then keeps the papermill `parameters` tag.
"""
from __future__ import annotations
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}

def fix(path: Path) -> bool:
    nb = json.loads(path.read_text())
    if nb.get("metadata") == KERNEL: return False
    nb["metadata"] = dict(KERNEL)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n"); return True

def main(argv):
    bindir = Path(sys.executable).parent
    if argv and argv[0] == "--fix-metadata":
        paths = sorted((ROOT / "nbs").rglob("*.ipynb"))
        changed = [p for p in paths if ".ipynb_checkpoints" not in p.parts and fix(p)]
    else:
        src, dst = Path(argv[0]), Path(argv[1])
        subprocess.run([str(bindir / "jupytext"), "-q", "--to", "ipynb", str(src), "-o", str(dst)], check=True)
        fix(dst); changed = [dst]
    for p in changed:
        subprocess.run([str(bindir / "nbdev_clean"), "--fname", str(p)], check=True, cwd=ROOT)
    print(f"{len(changed)} notebook(s) written/normalised")

if __name__ == "__main__":
    main(sys.argv[1:])
