"""lsuv's text model spec as a torch.nn.Module, for the interop checks.

The grammar read here is lsuv's: one op per line, `name: Module(arguments)`, `input: CxHxW`,
`#` comments. An op that names its inputs has a trailing call, `add1: Add(relu=True)(bn2, proj)`;
`input` is the network's input, and an op without the call takes the previous op's output.
print(model)'s nested form (`(blocks): Sequential(`, `(0): Block(`, `(conv1): Conv2d(...)`,
`)`) is read too, its block names prefixing the op names as state_dict() does.
Dotted names (`layer1.0.conv1`) become nested modules, so the state_dict keys are lsuv's
parameter names exactly, and a weights directory (one `<key>.npy` per state_dict entry) loads
and saves both ways.
"""
import ast
import os

import numpy as np
import torch
from torch import nn

INPUT = "input"


class SpecError(ValueError):
    pass


class Op:
    """One line of a spec: its name, module type, arguments and input tensor names."""

    def __init__(self, name, module, args, kwargs, inputs):
        self.name = name
        self.module = module
        self.args = args
        self.kwargs = kwargs
        self.inputs = inputs

    def has_parameters(self):
        return self.module in ("Conv2d", "Linear")


class Spec:
    def __init__(self, input_shape, ops):
        self.input_shape = input_shape  # (C, H, W)
        self.ops = ops


def _value(node):
    """A literal argument; a bare word (`padding=same`, as print(model) writes it) is a string."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    return ast.literal_eval(node)


def _matching_paren(text, open_at):
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise SpecError(f"unbalanced parentheses in {text!r}")


def parse_line(line):
    name, _, body = line.partition(":")
    name, body = name.strip(), body.strip()
    if not name or not body:
        raise SpecError(f"not `name: Module(...)`: {line!r}")
    open_at = body.index("(")
    close_at = _matching_paren(body, open_at)
    module = body[:open_at].strip()
    call = ast.parse("f" + body[open_at:close_at + 1], mode="eval").body
    args = [_value(a) for a in call.args]
    kwargs = {k.arg: _value(k.value) for k in call.keywords}
    rest = body[close_at + 1:].strip()
    inputs = []
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            raise SpecError(f"unexpected text after the module in {line!r}")
        inputs = [t.strip() for t in rest[1:-1].split(",") if t.strip()]
    return Op(name, module, args, kwargs, inputs)


def _repr_line(line):
    """`(name): Module(...)`, as print(model) writes it, to `name: Module(...)`."""
    if not line.startswith("("):
        return line
    close = line.find(")")
    rest = line[close + 1:].lstrip()
    if close < 0 or not rest.startswith(":"):
        raise SpecError(f"not `(name): Module(...)`: {line!r}")
    return line[1:close] + rest


def _resolve(name, prefixes, known):
    """An input name inside a block: the block's op first, then the enclosing blocks'."""
    if name == INPUT:
        return name
    for prefix in reversed(prefixes):
        if prefix and prefix + "." + name in known:
            return prefix + "." + name
    return name


def parse_spec(text):
    """Both forms lsuv reads: flat `name: Module(...)` lines, and print(model)'s nested repr,
    whose blocks (`(layer1): Sequential(` ... `)`, or a bare `Net(`) prefix their ops' names."""
    input_shape = None
    ops = []
    prefixes = [""]
    known = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(INPUT + ":"):
            input_shape = tuple(int(v) for v in line.split(":", 1)[1].strip().split("x"))
            continue
        if line == ")":
            if len(prefixes) == 1:
                raise SpecError("a `)` that closes no block")
            prefixes.pop()
            continue
        line = _repr_line(line)
        if line.endswith("(") and line.count("(") == 1:
            name, colon, _ = line[:-1].partition(":")
            outer = prefixes[-1]
            if not colon:
                prefixes.append(outer)  # the model's own `Net(` line adds no prefix
            else:
                prefixes.append(f"{outer}.{name.strip()}" if outer else name.strip())
            continue
        op = parse_line(line)
        op.inputs = [_resolve(n, prefixes, known) for n in op.inputs]
        if prefixes[-1]:
            op.name = prefixes[-1] + "." + op.name
        known.add(op.name)
        ops.append(op)
    if len(prefixes) != 1:
        raise SpecError("a block is not closed")
    if input_shape is None or len(input_shape) != 3:
        raise SpecError("the spec has no `input: CxHxW` line")
    return Spec(input_shape, ops)


def load_spec(path):
    with open(path) as f:
        return parse_spec(f.read())


class Add(nn.Module):
    """The residual sum of two or more tensors, with an optional ReLU after it."""

    def __init__(self, relu=False):
        super().__init__()
        self.relu = relu

    def forward(self, *tensors):
        total = tensors[0]
        for t in tensors[1:]:
            total = total + t
        return torch.relu(total) if self.relu else total


class FlattenedLinear(nn.Linear):
    """lsuv's Linear takes any input and flattens it in C x H x W order first."""

    def forward(self, x):
        return super().forward(torch.flatten(x, 1))


def _pool_arguments(op):
    names = ("kernel_size", "stride", "padding")
    values = dict(zip(names, op.args))
    values.update({k: v for k, v in op.kwargs.items() if k in names})
    return values


def make_module(op):
    a, k = op.args, op.kwargs
    if op.module == "Conv2d":
        keys = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                "groups", "bias")
        values = dict(zip(keys, a))
        values.update({key: v for key, v in k.items() if key in keys})
        return nn.Conv2d(**values)
    if op.module == "Linear":
        keys = ("in_features", "out_features", "bias")
        values = dict(zip(keys, a))
        values.update({key: v for key, v in k.items() if key in keys})
        return FlattenedLinear(**values)
    if op.module == "BatchNorm2d":
        module = nn.BatchNorm2d(a[0], eps=k.get("eps", a[1] if len(a) > 1 else 1e-5))
        return module.eval()
    if op.module == "ReLU":
        return nn.ReLU()
    if op.module == "ReLU6":
        return nn.ReLU6()
    if op.module == "Hardtanh":
        keys = ("min_val", "max_val")
        values = dict(zip(keys, a))
        values.update({key: v for key, v in k.items() if key in keys})
        return nn.Hardtanh(**values)
    if op.module == "MaxPool2d":
        return nn.MaxPool2d(**_pool_arguments(op))
    if op.module == "AvgPool2d":
        return nn.AvgPool2d(**_pool_arguments(op))
    if op.module == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(a[0] if a else k["output_size"])
    if op.module == "Flatten":
        return nn.Flatten()
    if op.module == "Add":
        return Add(relu=k.get("relu", a[0] if a else False))
    raise SpecError(f"{op.name}: unknown module {op.module}")


class SpecModel(nn.Module):
    """Runs a parsed spec; modules sit at their dotted names, so state_dict keys match lsuv's."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        for op in spec.ops:
            parent = self
            *path, leaf = op.name.split(".")
            for part in path:
                if not hasattr(parent, part):
                    parent.add_module(part, nn.Module())
                parent = getattr(parent, part)
            if hasattr(parent, leaf):
                raise SpecError(f"a second op named {op.name}")
            parent.add_module(leaf, make_module(op))
        self.eval()

    def module_of(self, op):
        return self.get_submodule(op.name)

    def run(self, x):
        """Every tensor by name: the input and each op's output."""
        tensors = {INPUT: x}
        previous = INPUT
        for op in self.spec.ops:
            names = op.inputs or [previous]
            for n in names:
                if n not in tensors:
                    raise SpecError(f"{op.name}: input {n} is not produced before it")
            tensors[op.name] = self.module_of(op)(*[tensors[n] for n in names])
            previous = op.name
        return tensors

    def forward(self, x):
        return self.run(x)[self.spec.ops[-1].name]


def build(spec, dtype=torch.float32):
    return SpecModel(spec).to(dtype)


def save_weights(model, directory):
    os.makedirs(directory, exist_ok=True)
    for key, value in model.state_dict().items():
        array = value.detach().cpu().numpy()
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        np.save(os.path.join(directory, key + ".npy"), array)


def load_weights(model, directory):
    """Loads every state_dict entry from `<key>.npy`; the model keeps its own dtype."""
    state = {}
    for key, value in model.state_dict().items():
        array = np.load(os.path.join(directory, key + ".npy"))
        if tuple(array.shape) != tuple(value.shape):
            raise SpecError(f"{key}.npy has shape {array.shape}, the model wants {tuple(value.shape)}")
        state[key] = torch.from_numpy(array).to(value.dtype)
    model.load_state_dict(state)


def randomize_batch_norms(model, generator):
    """Gives every BatchNorm2d running statistics and an affine part unlike the identity."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=generator) * 1.5 + 0.25)
                module.bias.copy_(torch.randn(c, generator=generator) * 0.5)
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
