"""Session 51 (engines/hg-cgan-half/NOTES.md): is a trained HG's held-out loss its BatchNorm statistics?

    python engines/recipes/session51/bn_check.py RUN/last.pt PAIRS/motion-256c-5t

Scores, on up to 200 pairs of each of the first two val shards and 160 training pairs, the EMA weights with the live model's
running statistics (as trained and released), the live weights, and the EMA weights with statistics recomputed
for them on 128-px centre patches of the training pairs (gain over the blurred input, dB; mean output shift)."""
import copy
import sys

import torch

from streamdeblur.data.dataset import to_tensor
from streamdeblur.data.shards import decode_png, find_shards, index_shard, read_member
from streamdeblur.models import build_parts

def pairs(path, n, every=1):
    """The blurry and sharp crops of every `every`-th pair of a shard by key, at most n, as N x 3 x S x S tensors."""
    records = sorted(index_shard(path, with_meta=False), key=lambda r: r.key)[::every][:n]
    with open(path, "rb") as f:
        crops = [[to_tensor(decode_png(read_member(f, *r.members[ext]))) for r in records]
                 for ext in ("blur.png", "sharp.png")]
    return torch.stack(crops[0]), torch.stack(crops[1])

def psnr(a, b):
    return (10 * torch.log10(1 / ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)))

@torch.no_grad()
def gain(net, blur, sharp):
    net.eval()
    out = torch.cat([net(blur[i:i + 16]) for i in range(0, len(blur), 16)])
    return float((psnr(out, sharp) - psnr(blur, sharp)).mean()), float((out - blur).mean())

ck = torch.load(sys.argv[1], map_location='cpu', weights_only=False)
model, key = ck['config']['model'], 'hg'
live = build_parts(model)[key]; live.load_state_dict(ck['models'][key])
ema = build_parts(model)[key]; ema.load_state_dict(ck['ema']['module'])
P = sys.argv[2]
val_shards, train_shards = find_shards(P, 'val'), find_shards(P, 'train')
vb, vs = pairs(val_shards[0], 200)
vb2, vs2 = pairs(val_shards[1], 200)
vb, vs = torch.cat([vb, vb2]), torch.cat([vs, vs2])
tb, ts = pairs(train_shards[2], 160, every=6)
print('val', len(vb), 'train', len(tb))
for name, net in [('ema, live stats (as released)', ema), ('live weights', live)]:
    print(name, 'held-out %.3f dB (mean shift %.4f)' % gain(net, vb, vs), 'seen %.3f' % gain(net, tb, ts)[0])
rec = copy.deepcopy(ema)
for m in rec.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.reset_running_stats(); m.momentum = None
rec.train()
with torch.no_grad():
    for i in range(0, len(tb), 8):
        rec(tb[i:i + 8, :, 64:192, 64:192])
print('ema, stats recomputed', 'held-out %.3f dB (mean shift %.4f)' % gain(rec, vb, vs), 'seen %.3f' % gain(rec, tb, ts)[0])
