"""The clutter filter network (Tabassian et al., arXiv 2401.13147, as in specs/clutter.md).

3-D U-Net over (T, H, W) clips: kernels 3x3x3, max pooling and nearest upsampling (1, 2, 2) so
time is never pooled, additive attention gates on the skips, linear activations in the conv
blocks (the released configs; no BN at our size) or, with act="prelu", one learnable PReLU
slope per block conv (the clutter is added before log compression, so undoing it is not
linear); residual output = input + head.

Layout: tensors are (N, C, T, H, W). Channels per level l (0-based, n0 = base width):
  encoder  conv 3^3 -> n0*2^l, conv 3^3 -> 2*n0*2^l (= skip x_l), max pool (1, 2, 2)
  bottom   the last level's two convs, no pool
  decoder  gating g (coarse, C_g) and skip x (C_x):
           gate    theta = conv 3^3 stride (1, 2, 2) on x -> C_x/2; phi = conv 1^3 on g -> C_x/2;
                   a = sigmoid(conv 1^3 (relu(theta + phi)) -> 1); x' = x * upsample(a)
           up      nearest (1, 2, 2) then conv 2x2x2 C_g -> C_g; concat [up, x'];
                   conv 3^3 -> C_x, conv 3^3 -> C_x  (this is the next g)
  head     conv 1^3 -> 1, output = input + head (head initialised to zero: identity at start)
n0 = 8, 3 levels: 0.305 M parameters (the spec table's 0.31 M).

Temporal padding is CAUSAL: every temporal kernel sees frames t-k+1..t only (2 frames of
history for 3-tap convs, 1 for the 2-tap up-conv), zero before the first frame. Why: the
output lags the input by zero frames (symmetric 3-tap kernels would add one frame of look-ahead
per layer, 13 frames on the longest path of this net), and frame-by-frame streaming with
zero-initialised histories reproduces whole-clip inference exactly from the very first frame,
so the streaming test needs no trimming at the clip ends. Spatial padding follows TF "same":
odd kernels symmetric, the even 2x2 kernel and the stride-2 theta conv pad at the end only.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def same_pad(size, k, s):
    """TF 'same' padding (before, after) for one spatial axis."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Module):
    """Conv3d with causal time padding and TF-'same' spatial padding (zeros), optionally followed
    by a PReLU with one learnable slope for the whole layer (`slope` = its initial value)."""

    def __init__(self, cin, cout, k=(3, 3, 3), stride=(1, 1, 1), slope=None):
        super().__init__()
        self.k, self.stride = k, stride
        self.conv = nn.Conv3d(cin, cout, k, stride=stride, padding=0)
        self.act = None if slope is None else nn.PReLU(1, init=slope)

    def forward(self, x):
        kt, kh, kw = self.k
        _, sh, sw = self.stride
        h0, h1 = same_pad(x.shape[-2], kh, sh)
        w0, w1 = same_pad(x.shape[-1], kw, sw)
        y = self.conv(F.pad(x, (w0, w1, h0, h1, kt - 1, 0)))
        return y if self.act is None else self.act(y)


class Gate(nn.Module):
    """Additive attention gate: weights the skip x by a map computed from x and the gating g."""

    def __init__(self, cx, cg):
        super().__init__()
        self.theta = Conv(cx, cx // 2, (3, 3, 3), (1, 2, 2))
        self.phi = Conv(cg, cx // 2, (1, 1, 1))
        self.psi = Conv(cx // 2, 1, (1, 1, 1))

    def forward(self, x, g):
        a = torch.sigmoid(self.psi(F.relu(self.theta(x) + self.phi(g))))
        return x * F.interpolate(a, scale_factor=(1, 2, 2), mode="nearest"), a


class ClutterNet(nn.Module):
    """`act` is "linear" (the released configs) or "prelu": every 3^3 conv of the encoder and
    decoder blocks is followed by a PReLU with one slope per layer, initialised to `slope`
    (1.0 = the linear net, so linear weights load unchanged and training bends them)."""

    def __init__(self, n0=8, levels=3, act="linear", slope=1.0):
        super().__init__()
        if act not in ("linear", "prelu"):
            raise ValueError(f"unknown activation {act!r}")
        self.n0, self.levels, self.act = n0, levels, act
        s = slope if act == "prelu" else None
        self.enc = nn.ModuleList()
        cin = 1
        for lvl in range(levels):
            c1, c2 = n0 * 2**lvl, 2 * n0 * 2**lvl
            self.enc.append(nn.ModuleList([Conv(cin, c1, slope=s), Conv(c1, c2, slope=s)]))
            cin = c2
        self.gates, self.ups, self.dec = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cg = cin
        for lvl in reversed(range(levels - 1)):
            cx = 2 * n0 * 2**lvl
            self.gates.append(Gate(cx, cg))
            self.ups.append(Conv(cg, cg, (2, 2, 2)))
            self.dec.append(nn.ModuleList([Conv(cg + cx, cx, slope=s), Conv(cx, cx, slope=s)]))
            cg = cx
        self.head = Conv(cg, 1, (1, 1, 1))
        nn.init.zeros_(self.head.conv.weight)
        nn.init.zeros_(self.head.conv.bias)

    def forward(self, x, return_gates=False):
        """x: (N, 1, T, H, W) in [0, 1], H and W divisible by 2^(levels-1)."""
        skips, h = [], x
        for lvl, (c1, c2) in enumerate(self.enc):
            h = c2(c1(h))
            if lvl < self.levels - 1:
                skips.append(h)
                h = F.max_pool3d(h, (1, 2, 2))
        gates = []
        for gate, up, (c1, c2), skip in zip(self.gates, self.ups, self.dec, reversed(skips)):
            xg, a = gate(skip, h)
            gates.append(a)
            u = up(F.interpolate(h, scale_factor=(1, 2, 2), mode="nearest"))
            h = c2(c1(torch.cat([u, xg], dim=1)))
        out = x + self.head(h)
        return (out, gates) if return_gates else out


def primed(model, x, prime, gate=None):
    """Runs `model` on `x` (N, 1, T, H, W) with `prime` copies of the first frame in front and
    drops their outputs. Why: zero history before the first frame is a step the causal convs see
    as a cut, so the first frames came out worse (and the error flickered); starting from a
    history of the first frame held still removes it. The Rust model primes its streams alike.
    With `gate` = (alpha, box, level), the clip's correction then goes through `gate_correction`
    from its first frame (the priming frames' corrections, dropped anyway, would feed it the
    start-up cut this priming exists to hide)."""
    xp = torch.cat([x[:, :, :1].expand(-1, -1, prime, -1, -1), x], dim=2) if prime > 0 else x
    y = model(xp)[:, :, prime:]
    return y if gate is None else gate_correction(x, y, gate)


def gate_correction(x, y, gate):
    """The correction gate (reference of sluice_models::clutter::gate): the correction c = y - x
    is scaled per pixel by min(1, s / level), where s is the in-frame box mean (box x box pixels,
    the window clipped to the frame) of |c| in grey levels (0-255), averaged causally over time:
    s_0 = box(|c_0|), s_t = alpha * box(|c_t|) + (1 - alpha) * s_{t-1}. Why: clutter is contiguous
    and nearly static, so its correction is large over whole neighbourhoods frame after frame,
    while stray small corrections on clean tissue are scattered and flicker (leakage, and the
    temporal coherency score). x, y: (N, 1, T, H, W)."""
    alpha, box, level = gate
    c = y - x
    a = c.abs() * 255.0
    pad = box // 2
    # Window sums over the zero-padded frame, divided by the window's in-frame pixel count.
    ones = torch.ones_like(a[:, :, :1])
    window = lambda v: F.avg_pool3d(F.pad(v, (pad, pad, pad, pad)), (1, box, box), stride=1)  # noqa: E731
    b = window(a) / window(ones)
    s = torch.empty_like(b)
    s[:, :, 0] = b[:, :, 0]
    for t in range(1, b.shape[2]):
        s[:, :, t] = alpha * b[:, :, t] + (1.0 - alpha) * s[:, :, t - 1]
    return x + torch.clamp(s / level, max=1.0) * c


def parse_gate(spec):
    """`ALPHA,BOX,LEVEL` (e.g. `0.05,11,4`) -> (alpha, box, level); ValueError when out of range
    (the ranges sluice_models accepts: 0 < alpha <= 1, odd box 1..255, 0 < level <= 255)."""
    parts = spec.split(",")
    if len(parts) != 3:
        raise ValueError(f"gate {spec!r}: expected ALPHA,BOX,LEVEL")
    alpha, box, level = float(parts[0]), int(parts[1]), float(parts[2])
    if not 0.0 < alpha <= 1.0 or not (1 <= box <= 255 and box % 2 == 1) or not 0.0 < level <= 255.0:
        raise ValueError(f"gate {spec!r}: needs 0 < ALPHA <= 1, odd BOX in 1..255, 0 < LEVEL <= 255")
    return (alpha, box, level)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    net = ClutterNet()
    print(f"parameters: {count_params(net):,}")
    x = torch.rand(1, 1, 32, 64, 64)
    y = net(x)
    assert y.shape == x.shape
    # Causality: changing frame 20 leaves frames < 20 unchanged.
    with torch.no_grad():
        for p in net.head.parameters():
            p.normal_(0, 0.1)
        a = net(x)
        x2 = x.clone()
        x2[:, :, 20] += 0.5
        b = net(x2)
        assert torch.equal(a[:, :, :20], b[:, :, :20]), "not causal"
        assert not torch.equal(a[:, :, 20:], b[:, :, 20:])
    print("causal: ok; 128x128 shape:", tuple(net(torch.rand(1, 1, 8, 128, 128)).shape))
