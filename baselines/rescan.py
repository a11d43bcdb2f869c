"""RESCAN (Li, Wu, Lin, Liu, Zha, "Recurrent Squeeze-and-Excitation Context Aggregation Net for Single Image
Deraining", ECCV 2018), written from the paper and checked against the official code XiaLiPKU/RESCAN in the
configuration its settings.py ships (24 channels, 4 stages, depth 7, SE blocks, ConvGRU units, the "Full" frame).

Each stage passes its input through five recurrent units, a ConvGRU on 3x3 convolutions with dilations
1, 1, 2, 4, 8 whose hidden state carries over to the same unit of the next stage; each unit's output is its hidden
state after squeeze-and-excitation and LeakyReLU(0.2). A decoder (conv, SE, LeakyReLU, 1x1 conv) estimates the rain
layer R_s; the next stage sees y - R_s, and the output is y - R_4. In the first stage a GRU has no state and
computes z * tanh(W_n x) alone. The official trainer reads images with cv2, so the network works in BGR order.

The official weights of the paper are not mirrored; `baselines.recderain` holds the BRN authors' re-trainings.
"""

import torch
from torch import nn

CHANNELS = 24
STAGES = 4
DILATIONS = (1, 1, 2, 4, 8)  # depth 7: the first unit, then 2**i for i < depth - 3
SE_HIDDEN = 6  # the official SEBlock's hidden width is its `reduction` argument, 6


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, SE_HIDDEN), nn.ReLU(), nn.Linear(SE_HIDDEN, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class ConvGRU(nn.Module):
    def __init__(self, in_channels: int, dilation: int):
        super().__init__()
        for gate in "zrn":
            self.add_module(f"conv_x{gate}", nn.Conv2d(in_channels, CHANNELS, 3, padding=dilation, dilation=dilation))
        for gate in "zrn":
            self.add_module(f"conv_h{gate}", nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1))
        self.se = SqueezeExcitation(CHANNELS)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
        if hidden is None:
            hidden = torch.sigmoid(self.conv_xz(x)) * torch.tanh(self.conv_xn(x))
        else:
            z = torch.sigmoid(self.conv_xz(x) + self.conv_hz(hidden))
            r = torch.sigmoid(self.conv_xr(x) + self.conv_hr(hidden))
            n = torch.tanh(self.conv_xn(x) + self.conv_hn(r * hidden))
            hidden = (1 - z) * hidden + z * n
        return nn.functional.leaky_relu(self.se(hidden), 0.2)


class RESCAN(nn.Module):
    """Takes and returns RGB; flips to the BGR order of its training inside."""

    def __init__(self):
        super().__init__()
        self.rnns = nn.ModuleList(ConvGRU(3 if k == 0 else CHANNELS, d) for k, d in enumerate(DILATIONS))
        self.dec = nn.Sequential(
            nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1),
            SqueezeExcitation(CHANNELS),
            nn.LeakyReLU(0.2),
            nn.Conv2d(CHANNELS, 3, 1),
        )

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        rainy = rainy.flip(1)
        hidden: list[torch.Tensor | None] = [None] * len(self.rnns)
        x = rainy
        for _ in range(STAGES):
            for k, rnn in enumerate(self.rnns):
                x = hidden[k] = rnn(x, hidden[k])
            x = rainy - self.dec(x)
        return x.flip(1)
