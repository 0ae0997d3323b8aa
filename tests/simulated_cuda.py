"""A CUDA device simulated on the CPU: proves, on a machine without a GPU, that no tensor reaches a model on the
wrong device.

Every tensor really stays on the CPU; the simulation labels each one *host* or *device* and applies CUDA's
rules to the labels, at the level of torch functions (a `TorchFunctionMode`, so torch, torch.nn.functional,
torch_geometric and fairchem code are all seen):

* ``t.to("cuda")``, ``t.cuda()``, ``Module.to("cuda")``, factory functions with ``device="cuda"`` and
  ``torch.load(map_location="cuda")`` make device tensors; ``t.cpu()`` / ``t.to("cpu")`` host ones;
* the result of an operation with a device tensor among its inputs is a device tensor, and ``t.device`` of a
  device tensor reads ``cuda:0`` (code that follows ``x.device`` creates device tensors, as on a GPU);
* an operation mixing host and device tensors is a *violation*, where CUDA raises "Expected all tensors to be
  on the same device": except the mixes CUDA accepts (a host 0-dim tensor as a scalar, host indices into a
  device tensor, ``copy_`` across devices);
* a random draw with a ``generator`` on the other device than its result is a violation (CUDA refuses it);
  ``torch.Generator(device="cuda")`` makes a simulated device generator;
* ``t.numpy()`` of a device tensor is a violation (CUDA refuses it).

`torch.cuda.is_available()` reads True inside the simulation and ``torch.cuda.synchronize`` is counted, so a
test can also check that timings wait for the device.
"""
from __future__ import annotations

import traceback
import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

CUDA = torch.device("cuda", 0)
FACTORY_DEVICE_KEY = "device"
# operations CUDA accepts across devices
CROSS_DEVICE_OK = {"copy_", "__set__", "__get__", "to", "cuda", "cpu", "__repr__", "__format__", "tolist", "item",
                   "_has_compatible_shallow_copy_type"}    # Module.to asks it before moving a parameter


def is_cuda(device) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.startswith("cuda")
    return isinstance(device, int) and not isinstance(device, bool)


def is_device_spec(value) -> bool:
    return isinstance(value, (str, torch.device)) or (isinstance(value, int) and not isinstance(value, bool))


def tensors_in(obj, depth: int = 0):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif depth < 3 and isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors_in(item, depth + 1)
    elif depth < 3 and isinstance(obj, dict):
        for item in obj.values():
            yield from tensors_in(item, depth + 1)


def _where() -> str:
    """The innermost stack frame outside torch and this file: the code that made the call."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        name = frame.filename
        if "simulated_cuda" in name or "/torch/" in name or "contextlib" in name:
            continue
        return f"{name.split('site-packages/')[-1]}:{frame.lineno} ({frame.name})"
    return "?"


class SimulatedCuda(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.on_device = WeakIdKeyDictionary()
        self.device_generators = weakref.WeakSet()
        self.violations: list[str] = []
        self.synchronized = 0

    # --- labels ---------------------------------------------------------------------------------------------
    def is_on_device(self, tensor) -> bool:
        return tensor in self.on_device

    def label(self, obj, on_device: bool) -> None:
        for tensor in tensors_in(obj):
            if on_device:
                self.on_device[tensor] = True
            else:
                self.on_device.pop(tensor, None)

    def is_device_generator(self, generator) -> bool:
        try:
            return generator in self.device_generators
        except TypeError:                       # torch's own generators cannot be weakly referenced
            return False

    def violation(self, name: str, detail: str) -> None:
        self.violations.append(f"{name}: {detail} at {_where()}")

    # --- the rules ------------------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", str(func))
        if name in ("__get__", "__set__"):
            return self._attribute(func, name, args)
        if name in ("to", "cuda", "cpu") and args and isinstance(args[0], torch.Tensor):
            return self._move(func, name, args, kwargs)
        if name == "pin_memory":
            return args[0].clone()      # page-locking needs a real accelerator; a host copy is what it yields
        if name in ("numpy", "__array__") and args and self.is_on_device(args[0]):
            self.violation(name, "a device tensor converted to numpy")

        explicit = FACTORY_DEVICE_KEY in kwargs and kwargs[FACTORY_DEVICE_KEY] is not None
        made_on_device = explicit and is_cuda(kwargs[FACTORY_DEVICE_KEY])
        if made_on_device:
            kwargs[FACTORY_DEVICE_KEY] = "cpu"
        inputs = list(tensors_in(args)) + list(tensors_in(kwargs))
        device_inputs = [t for t in inputs if self.is_on_device(t)]
        self._check_mix(name, args, inputs, device_inputs)
        generator = kwargs.get("generator")
        if generator is not None:
            wants_device = made_on_device or (bool(device_inputs) and not explicit)
            if wants_device != self.is_device_generator(generator):
                self.violation(name, f"a {'device' if self.is_device_generator(generator) else 'host'} "
                                     f"generator draws a {'device' if wants_device else 'host'} tensor")
        result = func(*args, **kwargs)
        if name == "copy_" or name.endswith("_") and args and isinstance(args[0], torch.Tensor) \
                and result is args[0]:
            return result                       # in place: the tensor stays where it is
        if made_on_device or (device_inputs and not explicit):
            self.label(result, True)
        return result

    def _check_mix(self, name, args, inputs, device_inputs) -> None:
        if not device_inputs or name in CROSS_DEVICE_OK:
            return
        if name in ("__getitem__", "__setitem__", "index_put_", "index_put"):
            target = args[0]
            if self.is_on_device(target):       # host indices into a device tensor: CUDA accepts them
                values = list(tensors_in(args[2:]))
                bad = [t for t in values if not self.is_on_device(t) and t.dim() > 0]
            else:
                bad = [t for t in device_inputs if t is not target]
            if bad:
                self.violation(name, f"indexing a {'device' if self.is_on_device(target) else 'host'} tensor "
                                     f"with tensors on the other device {[tuple(t.shape) for t in bad]}")
            return
        host = [t for t in inputs if not self.is_on_device(t) and t.dim() > 0]
        if host:
            self.violation(name, f"host tensors {[tuple(t.shape) for t in host][:4]} with device tensors "
                                 f"{[tuple(t.shape) for t in device_inputs][:4]}")

    def _attribute(self, func, name, args):
        attribute = getattr(func.__self__, "__name__", "")
        owner = args[0]
        if name == "__set__":
            result = func(*args)
            if attribute == "data":             # param.data = t (Module.to does this): the parameter moves
                self.label(owner, self.is_on_device(args[1]))
            return result
        if attribute == "device" and self.is_on_device(owner):
            return CUDA
        if attribute == "is_cuda":
            return self.is_on_device(owner)
        result = func(*args)
        if isinstance(result, torch.Tensor) and self.is_on_device(owner):
            self.label(result, True)            # .grad, .data, .T of a device tensor
        return result

    def _move(self, func, name, args, kwargs):
        source = args[0]
        rest, target = list(args[1:]), None
        if name == "cuda":
            target, rest, kwargs = CUDA, [], {k: v for k, v in kwargs.items() if k == "non_blocking"}
        elif name == "cpu":
            target, rest, kwargs = torch.device("cpu"), [], {}
        else:
            if "device" in kwargs:
                target, kwargs["device"] = kwargs["device"], "cpu"
            for i, value in enumerate(rest):
                if isinstance(value, torch.Tensor):          # t.to(other): other's dtype and device
                    target = CUDA if self.is_on_device(value) else torch.device("cpu")
                    rest[i] = value.dtype
                elif is_device_spec(value) and not isinstance(value, torch.dtype):
                    target, rest[i] = value, "cpu"
        if target is None:                                   # a dtype change: stays where it is
            result = func(source, *rest, **kwargs)
            self.label(result, self.is_on_device(source))
            return result
        to_device = is_cuda(target)
        if to_device == self.is_on_device(source):
            return func(source, *rest, **kwargs) if name == "to" else source
        moved = torch.Tensor.to(source, *rest, **{k: v for k, v in kwargs.items() if k != "non_blocking"})
        if moved is source:
            moved = source.clone()
        self.label(moved, to_device)
        return moved


class SimulatedGenerator(torch.Generator):
    """torch.Generator(device="cuda") inside the simulation: a CPU generator labelled as a device one."""
    simulation: SimulatedCuda | None = None

    def __new__(cls, device="cpu"):
        generator = super().__new__(cls, "cpu")
        if is_cuda(device) and cls.simulation is not None:
            cls.simulation.device_generators.add(generator)
        return generator

    def __init__(self, device="cpu"):
        pass


def install(monkeypatch) -> SimulatedCuda:
    """Patch torch so that CUDA seems present, and return the mode to enter (``with sim:``)."""
    sim = SimulatedCuda()
    SimulatedGenerator.simulation = sim

    def synchronize(device=None):
        sim.synchronized += 1

    real_load = torch.load

    def load(*args, map_location=None, **kwargs):
        if map_location is not None and is_cuda(map_location):
            loaded = real_load(*args, map_location="cpu", **kwargs)
            _label_nested(sim, loaded)
            return loaded
        return real_load(*args, map_location=map_location, **kwargs)

    real_parameter_new = torch.nn.Parameter.__new__

    def parameter_new(cls, data=None, requires_grad=True):
        parameter = real_parameter_new(cls, data, requires_grad)
        if data is not None and sim.is_on_device(data):     # deepcopy of a device parameter stays there
            sim.label(parameter, True)
        return parameter

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "synchronize", synchronize)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "simulated CUDA device")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch, "Generator", SimulatedGenerator)
    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(torch.nn.Parameter, "__new__", staticmethod(parameter_new))
    return sim


def _label_nested(sim: SimulatedCuda, obj, depth: int = 0) -> None:
    if isinstance(obj, torch.Tensor):
        sim.label(obj, True)
    elif depth < 6 and isinstance(obj, dict):
        for value in obj.values():
            _label_nested(sim, value, depth + 1)
    elif depth < 6 and isinstance(obj, (list, tuple)):
        for value in obj:
            _label_nested(sim, value, depth + 1)
