#!/usr/bin/env bash
# Before and after gpu_run.sh's device call: the call carries the working tree and .gpu/ in 64 MiB in all, and the
# engines' weights alone take 37 MB. `gpu_prepare.sh` packs the data (.gpu/, ignored by git: add `/.gpu/` to
# .git/info/exclude) and moves engines/*/model.safetensors to $ASIDE for the call; `gpu_prepare.sh restore` puts
# them back (git checkout -- engines would too).
#   PAIRS: motion-256c-5t (engines/recipes/pairs.sh makes it, about an hour on a fresh machine).
#   HG_RUN: the HG checkpoint frozen under both cGAN runs (default: session 50's hgm-half run, when it is there;
#     else the same HG as released in engines/hg-cgan-res, in fp16).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"; cd "$REPO"
ASIDE="${ASIDE:-/tmp/streamdeblur-weights-aside}"
if [[ "${1:-}" == restore ]]; then
  (cd "$ASIDE" && find engines -name model.safetensors) | while read -r f; do mv "$ASIDE/$f" "$f"; done
  git status --short engines; exit 0
fi
PAIRS="${PAIRS:-$HOME/.cache/streamdeblur/pairs/motion-256c-5t}"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
[[ -f .gpu/data/train.tar ]] || python engines/recipes/session47/pack_gpu_data.py "$PAIRS" .gpu/data --val 64
python - <<'PY'
import os
from pathlib import Path

from safetensors.torch import load_file, save_file

# The frozen HG of the two cGAN runs: session 50's, fine-tuned on the motion pairs (it does no harm: +0.004 dB
# held out, engines/hg-cgan-half/NOTES.md), from its run when it is here (HG_RUN), else from hg-cgan-res, released
# with it (session 72); else the shake-kernel one of hg-cgan-half.
run = Path(os.environ.get("HG_RUN", Path.home() / ".cache/streamdeblur/runs/hgm-half/last.pt"))
if run.is_file():
    from streamdeblur.models import build_parts
    from streamdeblur.train.stages import load_into

    hg = build_parts("hg-half")["hg"]
    load_into(hg, str(run), "hg")
    save_file({k: v.contiguous() for k, v in hg.state_dict().items()}, ".gpu/hg-half.safetensors")
    print(f"HG: {run}")
else:
    engine = next(e for e in ("hg-cgan-res", "hg-cgan-half") if Path(f"engines/{e}/model.safetensors").is_file())
    state = load_file(f"engines/{engine}/model.safetensors")
    save_file({k: v for k, v in state.items() if k.startswith("net.hg.")}, ".gpu/hg-half.safetensors")
    print(f"HG: engines/{engine}" + (" (shake kernels only)" if engine == "hg-cgan-half" else ""))
PY
for f in engines/*/model.safetensors; do mkdir -p "$ASIDE/$(dirname "$f")"; mv "$f" "$ASIDE/$f"; done
echo "travels: $(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes of tree + $(du -sb .gpu | cut -f1) of .gpu (64 MiB: 67108864)"
echo "now: run 'bash engines/recipes/session47/gpu_run.sh 470' with carry ['.gpu'], timeout_s 560; then gpu_prepare.sh restore"
