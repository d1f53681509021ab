"""Modules defined here, as a user would write them, for the exporter's test."""
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    def __init__(self, classes=10, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(width, width), BasicBlock(width, width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, 2), BasicBlock(2 * width, 2 * width))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TwoHeads(nn.Module):
    """A shared trunk and two heads: forward returns a tuple."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head_a = nn.Linear(64, 5)
        self.head_b = nn.Linear(64, 3)

    def forward(self, x):
        h = self.trunk(x)
        return self.head_a(h), self.head_b(h)


class Untraceable(nn.Module):
    """Control flow on the input's values: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


def _randomize(m, seed):
    torch.manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):  # running statistics that are not the identity
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def small_resnet():
    torch.manual_seed(1)
    return _randomize(SmallResNet(), 2)


def small_resnet_finetune():
    """The same trunk as small_resnet, with layer2 and fc retrained."""
    m = small_resnet()
    torch.manual_seed(3)
    for mod in list(m.layer2.modules()) + [m.fc]:
        for p in mod.parameters(recurse=False):
            p.data.normal_(0, 0.1)
    return m


def two_heads():
    torch.manual_seed(4)
    return TwoHeads().eval()


def untraceable():
    return Untraceable().eval()


class InplaceNet(nn.Module):
    """ReLU(inplace=True), as torchvision writes it (scripted, torch.relu_),
    here as the first thing the head does to what the body made."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(8, 8, 3, 1, 1))
        self.head = nn.Sequential(nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(8, 4))

    def forward(self, x):
        return self.head(self.body(x))


def inplace_net():
    torch.manual_seed(5)
    return InplaceNet().eval()
