"""The generic fitted-state serializer: Python objects <-> JSON tree + arrays.

Every node of the tree is plain JSON: ``None``, bools, ints, strings and finite
floats stand for themselves; everything else is a dict whose ``"$"`` key names
its kind. Numeric arrays and tensors are not in the tree: they are stored by key
in a safetensors blob. Objects are rebuilt from their class (allow-listed, see
:mod:`skmm.io._trust`) and their attribute dict, as pickle would rebuild them,
but without running any code named by the file:

* estimators and plain objects (``__dict__`` / ``__getstate__``): the class's
  ``__new__`` and ``__setstate__`` (scikit-learn's, which also checks the
  scikit-learn version) or a ``__dict__`` update;
* skorch nets: rebuilt from their constructor parameters (``module`` class and
  ``module__*`` keyword arguments) with ``initialize()``, then the module and
  criterion state dicts are loaded, so a network module round-trips as long as
  its constructor arguments do; so are the optimizers' state dicts (Adam's
  moments, step counts, the learning rates of the parameter groups: tensors in
  the safetensors blob, the rest as data), so that training continued after
  loading (``net_.partial_fit``, ``warm_start``) resumes where it stopped, as
  after a pickle round trip;
* numpy arrays, torch tensors, sparse matrices, random states, dtypes, classes
  and functions have dedicated kinds.

Shared references (the same fitted encoder in ``encoders_`` and
``named_encoders_``) are stored once and restored shared.
"""

import collections
import copyreg
import functools
import math
import types
import warnings

import numpy as np
import scipy.sparse as sp

from skmm.exceptions import ModelFileError
from skmm.io._trust import is_trusted, qualified_name, resolve

__all__ = ["Decoder", "Encoder"]

_PRIMITIVES = (type(None), bool, int, str)

#: skorch attributes rebuilt by ``initialize()`` rather than stored.
_SKORCH_REBUILT = frozenset(
    {
        "initialized_",
        "virtual_params_",
        "init_context_",
        "callbacks_",
        "prefixes_",
        "cuda_dependent_attributes_",
        "_modules",
        "_criteria",
        "_optimizers",
        "history_",
    }
)

_SPARSE_FORMATS = ("csr", "csc")


def _is_skorch_net(obj):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(obj, NeuralNet)


def _torch():
    import torch

    return torch


def _is_tensor(obj):
    torch = _torch()
    return isinstance(obj, torch.Tensor)


def _class_node(cls, what):
    name = qualified_name(cls)
    module, qualname = (
        getattr(cls, "__module__", None),
        getattr(cls, "__qualname__", ""),
    )
    if name is None or "<locals>" in qualname:
        raise TypeError(
            f"{what} {cls!r} has no importable name (a lambda, a local function or "
            "class); the safe format stores classes and functions by name. Define "
            "it at module level."
        )
    if isinstance(cls, np.ufunc):
        module, qualname = "numpy", cls.__name__
    return {"module": module, "qualname": qualname}


class Encoder:
    """Turn an object graph into a JSON tree plus a dict of named arrays."""

    def __init__(self):
        self.arrays = {}
        self._memo = {}
        self._alive = []  # keep memoised objects alive: ids must stay unique

    # -- helpers ------------------------------------------------------------------
    def _array(self, array):
        key = f"a{len(self.arrays)}"
        # ascontiguousarray makes 0-d arrays 1-d: keep the shape (a 0-d tensor
        # such as an optimizer's step count must come back 0-d)
        self.arrays[key] = np.ascontiguousarray(array).reshape(np.shape(array))
        return key

    def _remember(self, obj, node):
        ident = len(self._memo)
        self._memo[id(obj)] = ident
        self._alive.append(obj)
        node["id"] = ident
        return node

    def encode(self, obj, path="model"):
        try:
            return self._encode(obj, path)
        except RecursionError:
            raise ModelFileError(f"{path}: the object graph is too deep") from None

    def _encode(self, obj, path):
        if isinstance(obj, _PRIMITIVES) and type(obj) in _PRIMITIVES:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if id(obj) in self._memo:
            return {"$": "ref", "id": self._memo[id(obj)]}
        if type(obj) is tuple:
            items = [self._encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
            return {"$": "tuple", "items": items}
        if isinstance(obj, np.ndarray):
            return self._encode_array(obj, path)
        if isinstance(obj, np.generic):
            return self._encode_scalar(obj, path)
        if isinstance(obj, np.dtype):
            if obj.fields is not None or obj.subdtype is not None:
                raise TypeError(f"{path}: structured dtype {obj} is not supported")
            return {"$": "dtype", "v": obj.str}
        if _is_tensor(obj):
            return self._encode_tensor(obj, path)
        if isinstance(obj, np.random.RandomState):
            state = obj.get_state(legacy=False)
            node = {"$": "randomstate", "state": self._encode(state, path)}
            return self._remember(obj, node)
        if isinstance(obj, np.random.Generator):
            state = obj.bit_generator.state
            node = {
                "$": "generator",
                "bit_generator": _class_node(type(obj.bit_generator), "bit generator"),
                "state": self._encode(state, path),
            }
            return self._remember(obj, node)
        if sp.issparse(obj):
            return self._encode_sparse(obj, path)
        if isinstance(obj, type):
            return {"$": "type", **_class_node(obj, "class")}
        if isinstance(obj, functools.partial):
            node = self._remember(obj, {"$": "partial"})
            node["func"] = self._encode(obj.func, f"{path}.func")
            node["args"] = self._encode(tuple(obj.args), f"{path}.args")
            node["keywords"] = self._encode(dict(obj.keywords), f"{path}.keywords")
            return node
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
            return {"$": "function", **_class_node(obj, "function")}
        if isinstance(obj, slice):
            return {
                "$": "slice",
                "items": [
                    self._encode(v, path) for v in (obj.start, obj.stop, obj.step)
                ],
            }
        if type(obj).__module__ == "torch" and type(obj).__name__ in (
            "device",
            "dtype",
        ):
            return {"$": f"torch.{type(obj).__name__}", "v": str(obj)}
        if type(obj) is float or isinstance(obj, float):
            return {"$": "float", "v": repr(float(obj))}
        if isinstance(obj, (set, frozenset)):
            node = {"$": type(obj).__name__ if type(obj) in (set, frozenset) else "set"}
            items = sorted(obj, key=repr)
            node["items"] = [self._encode(v, f"{path}{{}}") for v in items]
            return node
        if isinstance(obj, dict):
            return self._encode_dict(obj, path)
        if isinstance(obj, list):
            return self._encode_list(obj, path)
        if _is_skorch_net(obj):
            return self._encode_skorch(obj, path)
        if isinstance(obj, bytes):
            raise TypeError(
                f"{path}: bytes are not stored by the safe format (they are how "
                "pickled payloads travel); decode them or store an array"
            )
        return self._encode_object(obj, path)

    def _encode_array(self, array, path):
        if array.dtype.fields is not None:
            return self._encode_structured(array, path)
        if array.dtype.kind in "biuf" and array.dtype.fields is None:
            if array.dtype.byteorder not in ("=", "|", "<"):
                array = array.astype(array.dtype.newbyteorder("<"))
            node = {"$": "ndarray", "key": self._array(array)}
            return self._remember(array, node)
        if array.dtype.kind in "OUS":
            node = self._remember(
                array,
                {"$": "objarray", "dtype": array.dtype.str, "shape": list(array.shape)},
            )
            flat = (
                array.reshape(-1).tolist()
                if array.dtype.kind != "O"
                else list(array.reshape(-1))
            )
            node["items"] = [
                self._encode(v, f"{path}[{i}]") for i, v in enumerate(flat)
            ]
            return node
        raise TypeError(f"{path}: arrays of dtype {array.dtype} are not supported")

    def _encode_structured(self, array, path):
        # e.g. the node table of sklearn's trees: one plain array per field
        dtype = array.dtype
        fields = {}
        for name in dtype.names:
            sub = dtype.fields[name][0]
            if sub.kind not in "biuf" or sub.subdtype is not None:
                raise TypeError(f"{path}: structured field {name!r} of dtype {sub}")
            fields[name] = {"$": "ndarray", "key": self._array(array[name])}
        node = {
            "$": "structured",
            "dtype": {
                "names": list(dtype.names),
                "formats": [dtype.fields[n][0].str for n in dtype.names],
                "offsets": [dtype.fields[n][1] for n in dtype.names],
                "itemsize": dtype.itemsize,
            },
            "shape": list(array.shape),
            "fields": fields,
        }
        return self._remember(array, node)

    def _encode_scalar(self, value, path):
        if value.dtype.kind not in "biufUS":
            raise TypeError(
                f"{path}: numpy scalar of dtype {value.dtype} not supported"
            )
        item = value.item()
        if isinstance(item, bytes):
            item = {"$": "bytes-scalar", "v": list(item)}
        elif isinstance(item, float) and not math.isfinite(item):
            item = repr(item)
        return {"$": "npscalar", "dtype": value.dtype.str, "v": item}

    def _encode_tensor(self, tensor, path):
        torch = _torch()
        data = tensor.detach().to("cpu")
        dtype = str(data.dtype).removeprefix("torch.")
        if data.dtype == torch.bfloat16:
            data = data.to(torch.float32)
        if data.is_sparse or data.layout != torch.strided:
            raise TypeError(f"{path}: sparse tensors are not supported")
        node = {
            "$": "tensor",
            "key": self._array(data.contiguous().numpy()),
            "dtype": dtype,
            "parameter": isinstance(tensor, torch.nn.Parameter),
            "requires_grad": bool(tensor.requires_grad),
        }
        return self._remember(tensor, node)

    def _encode_sparse(self, matrix, path):
        fmt = matrix.format if matrix.format in _SPARSE_FORMATS else "csr"
        converted = matrix.asformat(fmt)
        node = self._remember(
            matrix,
            {
                "$": "sparse",
                "format": fmt,
                "array": not isinstance(matrix, sp.spmatrix),
                "shape": list(converted.shape),
            },
        )
        for part in ("data", "indices", "indptr"):
            node[part] = {"$": "ndarray", "key": self._array(getattr(converted, part))}
        return node

    def _encode_dict(self, obj, path):
        node = {"$": "dict"}
        if type(obj) is not dict:
            if isinstance(obj, collections.defaultdict) and obj.default_factory:
                node["default_factory"] = self._encode(obj.default_factory, path)
            node["class"] = _class_node(type(obj), "dict type")
        self._remember(obj, node)
        node["items"] = [
            [self._encode(k, f"{path}.keys"), self._encode(v, f"{path}[{k!r}]")]
            for k, v in obj.items()
        ]
        extra = getattr(obj, "__dict__", None)
        if extra:
            node["state"] = self._encode(dict(extra), path)
        return node

    def _encode_list(self, obj, path):
        node = {"$": "list"}
        if type(obj) is not list:
            node["class"] = _class_node(type(obj), "list type")
        self._remember(obj, node)
        node["items"] = [self._encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        extra = getattr(obj, "__dict__", None)
        if extra:
            node["state"] = self._encode(dict(extra), path)
        return node

    def _encode_skorch(self, net, path):
        node = self._remember(
            net, {"$": "skorch", "class": _class_node(type(net), "net")}
        )
        if not getattr(net, "initialized_", False):
            node["attrs"] = self._encode(dict(vars(net)), path)
            return node
        modules = list(getattr(net, "_modules", [])) + list(
            getattr(net, "_criteria", [])
        )
        rebuilt = _SKORCH_REBUILT | {f"{name}_" for name in modules}
        rebuilt |= {f"{name}_" for name in getattr(net, "_optimizers", [])}
        attrs = {k: v for k, v in vars(net).items() if k not in rebuilt}
        if isinstance(attrs.get("callbacks"), (list, tuple)):
            attrs["callbacks"] = type(attrs["callbacks"])(
                _unfitted_callbacks(attrs["callbacks"])
            )
        node["attrs"] = self._encode(attrs, path)
        node["states"] = {
            name: self._encode(
                dict(getattr(net, name + "_").state_dict()), f"{path}.{name}_"
            )
            for name in modules
        }
        node["optimizer_states"] = {}
        for name in getattr(net, "_optimizers", []):
            state = _optimizer_state(getattr(net, name + "_", None), f"{path}.{name}_")
            if state is not None:
                node["optimizer_states"][name] = self._encode(state, f"{path}.{name}_")
        node["history"] = self._encode(list(net.history_), f"{path}.history_")
        return node

    def _encode_object(self, obj, path):
        cls = type(obj)
        try:
            reduced = obj.__reduce_ex__(4)
        except Exception as exc:
            raise TypeError(
                f"{path}: cannot store a {cls.__module__}.{cls.__qualname__} ({exc})"
            ) from None
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            raise TypeError(f"{path}: cannot store a {cls.__qualname__}")
        if reduced[0] is cls:
            return self._encode_reduce(obj, reduced, path)
        plain = reduced[0] in (copyreg.__newobj__, copyreg.__newobj_ex__) and (
            reduced[1] and reduced[1][0] is cls
        )
        if not plain or any(part is not None for part in reduced[3:]):
            raise TypeError(
                f"{path}: cannot store a {cls.__module__}.{cls.__qualname__}; the safe "
                "format stores estimators and plain objects (attribute dicts), "
                "arrays, tensors, skorch nets and plain data"
            )
        state = reduced[2] if len(reduced) > 2 else None
        if state is None:
            state = {}
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise TypeError(
                f"{path}: {cls.__qualname__} has a {type(state).__name__} state, not "
                "an attribute dict; not supported by the safe format"
            )
        node = self._remember(obj, {"$": "object", "class": _class_node(cls, "class")})
        node["state"] = {}
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: attribute name {key!r} is not a string")
            node["state"][key] = self._encode(value, f"{path}.{key}")
        return node

    def _encode_reduce(self, obj, reduced, path):
        """Extension types (e.g. sklearn's ``Tree``): class, constructor data, state.

        Only ``cls(*args)`` with ``cls`` the object's own class is accepted; the
        class is checked against the allow-list on load like any other.
        """
        cls = type(obj)
        if any(part is not None for part in reduced[3:]):
            raise TypeError(f"{path}: cannot store a {cls.__qualname__}")
        node = self._remember(obj, {"$": "reduce", "class": _class_node(cls, "class")})
        node["args"] = self._encode(tuple(reduced[1]), f"{path}.<args>")
        state = reduced[2] if len(reduced) > 2 else None
        node["state"] = self._encode(state, f"{path}.<state>")
        return node


# --------------------------------------------------------------------------------
class Decoder:
    """Rebuild objects from a JSON tree and arrays, naming only trusted types."""

    def __init__(self, arrays, trusted):
        self.arrays = arrays
        self.trusted = trusted
        self._memo = {}

    # -- trust: collected before anything is built ---------------------------------
    @staticmethod
    def names(tree):
        """Every ``module.qualname`` a tree refers to."""
        found = set()
        stack = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key in ("class", "bit_generator"):
                    ref = node.get(key)
                    if isinstance(ref, dict) and "module" in ref:
                        found.add((ref.get("module"), ref.get("qualname"), False))
                if node.get("$") in ("type", "function"):
                    function = node.get("$") == "function"
                    found.add((node.get("module"), node.get("qualname"), function))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return found

    def untrusted(self, tree):
        return sorted(
            {
                f"{m}.{q}"
                for m, q, function in self.names(tree)
                if not (isinstance(m, str) and isinstance(q, str))
                or not is_trusted(m, q, self.trusted, function=function)
            }
        )

    # -- building --------------------------------------------------------------------
    def decode(self, node):
        try:
            return self._decode(node)
        except RecursionError:
            raise ModelFileError("malformed model file: nesting too deep") from None
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ModelFileError(
                f"malformed model file ({type(exc).__name__}: {exc})"
            ) from exc

    def _lookup(self, ref, *, function=False):
        module, qualname = ref["module"], ref["qualname"]
        # checked for the whole file before, and again here
        if not is_trusted(module, qualname, self.trusted, function=function):
            raise ModelFileError(f"untrusted name {module}.{qualname}")
        return resolve(module, qualname)

    def _keep(self, node, obj):
        if "id" in node:
            self._memo[node["id"]] = obj
        return obj

    def _array(self, key):
        if key not in self.arrays:
            raise ModelFileError(f"malformed model file: array {key!r} is missing")
        return self.arrays[key]

    def _decode(self, node):
        if node is None or type(node) in (bool, int, str, float):
            return node
        if isinstance(node, list):
            raise ModelFileError("malformed model file: bare list node")
        kind = node["$"]
        method = getattr(
            self, "_decode_" + kind.replace(".", "_").replace("-", "_"), None
        )
        if method is None:
            raise ModelFileError(f"malformed model file: unknown node kind {kind!r}")
        return method(node)

    def _decode_ref(self, node):
        if node["id"] not in self._memo:
            raise ModelFileError("malformed model file: dangling reference")
        return self._memo[node["id"]]

    def _decode_float(self, node):
        if node["v"] not in ("nan", "inf", "-inf"):
            raise ModelFileError(f"malformed float {node['v']!r}")
        return float(node["v"])

    def _decode_tuple(self, node):
        return tuple(self._decode(v) for v in node["items"])

    def _decode_set(self, node):
        return {self._decode(v) for v in node["items"]}

    def _decode_frozenset(self, node):
        return frozenset(self._decode(v) for v in node["items"])

    def _decode_slice(self, node):
        return slice(*(self._decode(v) for v in node["items"]))

    def _decode_dtype(self, node):
        return np.dtype(node["v"])

    def _decode_ndarray(self, node):
        return self._keep(node, np.array(self._array(node["key"]), copy=True))

    def _decode_structured(self, node):
        spec = node["dtype"]
        formats = [np.dtype(f) for f in spec["formats"]]
        if any(f.kind not in "biuf" for f in formats):
            raise ModelFileError("malformed structured array")
        dtype = np.dtype(
            {
                "names": list(spec["names"]),
                "formats": formats,
                "offsets": [int(o) for o in spec["offsets"]],
                "itemsize": int(spec["itemsize"]),
            }
        )
        out = np.zeros(tuple(int(s) for s in node["shape"]), dtype=dtype)
        for name in dtype.names:
            out[name] = self._decode(node["fields"][name])
        return self._keep(node, out)

    def _decode_reduce(self, node):
        cls = self._lookup(node["class"])
        # Only extension types of skmm/scikit-learn (sklearn's Tree) are built
        # by calling the class: a constructor given data from the file must not
        # allocate or act on its own (e.g. torch.nn.Linear(10**6, 10**6)).
        if not isinstance(cls, type) or not (
            _own_code(cls) or qualified_name(cls) in self.trusted
        ):
            raise ModelFileError(
                f"malformed model file: {qualified_name(cls)} cannot be rebuilt "
                "from constructor arguments"
            )
        args = self._decode(node["args"])
        obj = cls(*args)
        self._keep(node, obj)
        state = self._decode(node["state"])
        if state is not None:
            obj.__setstate__(state)
        return obj

    def _decode_objarray(self, node):
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "OUS":
            raise ModelFileError(f"malformed object array of dtype {dtype}")
        shape = tuple(int(s) for s in node["shape"])
        out = np.empty(shape, dtype=dtype)
        self._keep(node, out)
        items = [self._decode(v) for v in node["items"]]
        if len(items) != out.size:
            raise ModelFileError("malformed object array: wrong number of items")
        flat = out.reshape(-1)
        for i, item in enumerate(items):
            flat[i] = item
        return out

    def _decode_npscalar(self, node):
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "biufUS":
            raise ModelFileError(f"malformed numpy scalar of dtype {dtype}")
        value = node["v"]
        if isinstance(value, dict):
            value = bytes(value["v"])
        return dtype.type(value)

    def _decode_tensor(self, node):
        torch = _torch()
        dtype = getattr(torch, node["dtype"], None)
        if not isinstance(dtype, torch.dtype):
            raise ModelFileError(f"malformed tensor dtype {node['dtype']!r}")
        tensor = torch.from_numpy(np.array(self._array(node["key"]), copy=True))
        tensor = tensor.to(dtype)
        if node.get("parameter"):
            tensor = torch.nn.Parameter(
                tensor, requires_grad=bool(node["requires_grad"])
            )
        elif node.get("requires_grad"):
            tensor.requires_grad_(True)
        return self._keep(node, tensor)

    def _decode_torch_device(self, node):
        torch = _torch()
        device = torch.device(node["v"])
        if device.type == "cuda" and not torch.cuda.is_available():
            return torch.device("cpu")
        return device

    def _decode_torch_dtype(self, node):
        torch = _torch()
        dtype = getattr(torch, str(node["v"]).removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype):
            raise ModelFileError(f"malformed torch dtype {node['v']!r}")
        return dtype

    def _decode_randomstate(self, node):
        rs = np.random.RandomState()
        self._keep(node, rs)
        rs.set_state(self._decode(node["state"]))
        return rs

    def _decode_generator(self, node):
        bit_generator = self._lookup(node["bit_generator"])
        if not (
            isinstance(bit_generator, type)
            and issubclass(bit_generator, np.random.BitGenerator)
        ):
            raise ModelFileError("malformed random generator")
        bg = bit_generator()
        bg.state = self._decode(node["state"])
        return self._keep(node, np.random.Generator(bg))

    def _decode_sparse(self, node):
        fmt = node["format"]
        if fmt not in _SPARSE_FORMATS:
            raise ModelFileError(f"malformed sparse format {fmt!r}")
        parts = tuple(self._decode(node[p]) for p in ("data", "indices", "indptr"))
        make = {
            ("csr", False): sp.csr_matrix,
            ("csc", False): sp.csc_matrix,
            ("csr", True): sp.csr_array,
            ("csc", True): sp.csc_array,
        }[fmt, bool(node["array"])]
        return self._keep(node, make(parts, shape=tuple(node["shape"])))

    def _decode_type(self, node):
        obj = self._lookup(node)
        if not isinstance(obj, type):
            raise ModelFileError(f"{node['module']}.{node['qualname']} is not a class")
        return obj

    def _decode_function(self, node):
        obj = self._lookup(node, function=True)
        if isinstance(obj, type) or not callable(obj):
            raise ModelFileError(
                f"{node['module']}.{node['qualname']} is not a function"
            )
        return obj

    def _decode_partial(self, node):
        func = self._decode(node["func"])
        if not callable(func):
            raise ModelFileError("malformed partial")
        args = self._decode(node["args"])
        keywords = self._decode(node["keywords"])
        return self._keep(node, functools.partial(func, *args, **keywords))

    def _decode_dict(self, node):
        if "class" in node:
            cls = self._lookup(node["class"])
            if not (isinstance(cls, type) and issubclass(cls, dict)):
                raise ModelFileError("malformed dict subclass")
            out = cls.__new__(cls)
            if issubclass(cls, collections.defaultdict) and "default_factory" in node:
                out.default_factory = self._decode(node["default_factory"])
        else:
            out = {}
        self._keep(node, out)
        for key, value in node["items"]:
            dict.__setitem__(out, self._decode(key), self._decode(value))
        if "state" in node:
            out.__dict__.update(self._decode(node["state"]))
        return out

    def _decode_list(self, node):
        if "class" in node:
            cls = self._lookup(node["class"])
            if not (isinstance(cls, type) and issubclass(cls, list)):
                raise ModelFileError("malformed list subclass")
            out = cls.__new__(cls)
        else:
            out = []
        self._keep(node, out)
        list.extend(out, [self._decode(v) for v in node["items"]])
        if "state" in node:
            out.__dict__.update(self._decode(node["state"]))
        return out

    def _decode_object(self, node):
        cls = self._lookup(node["class"])
        if not isinstance(cls, type) or _is_skorch_class(cls):
            # skorch's own __setstate__ unpickles a blob: nets only go through
            # the "skorch" kind, which never calls it.
            raise ModelFileError(
                f"malformed model file: {qualified_name(cls)} as a plain object"
            )
        obj = cls.__new__(cls)
        self._keep(node, obj)
        state = {k: self._decode(v) for k, v in node["state"].items()}
        setstate = getattr(cls, "__setstate__", None)
        if setstate is not None and _own_code(setstate):
            # scikit-learn's / skmm's __setstate__ (version check, device
            # fallback); any other class's is not run: its attributes are set.
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj

    def _decode_skorch(self, node):
        torch = _torch()
        cls = self._lookup(node["class"])
        if not _is_skorch_class(cls):
            raise ModelFileError("malformed skorch net")
        net = cls.__new__(cls)
        self._keep(node, net)
        attrs = self._decode(node["attrs"])
        device = attrs.get("device")
        if (
            isinstance(device, str)
            and device.startswith("cuda")
            and not torch.cuda.is_available()
        ):
            attrs["device"] = "cpu"
        net.__dict__.update(attrs)
        if "states" not in node:
            return net
        # The module is rebuilt from its class and constructor arguments
        # (``module__*``), then its trained state is loaded. Building it draws
        # from torch's global generator: keep the caller's stream unchanged.
        net.initialized_ = False
        net.history_ = None
        net.virtual_params_ = {}
        with torch.random.fork_rng(devices=[]):
            net.initialize()
        for name, state in node["states"].items():
            if name not in list(net._modules) + list(net._criteria):
                raise ModelFileError(f"malformed skorch net: no module {name!r}")
            module = getattr(net, name + "_")
            tensors = self._decode(state)
            module.load_state_dict(tensors, strict=True)
            if hasattr(module, "to"):
                module.to(net.device)
        # Optimizers last: their state follows the loaded parameters (device).
        # Files written before optimizer states were stored have none: the
        # optimizer then starts afresh, as it did.
        for name, state in node.get("optimizer_states", {}).items():
            if name not in list(getattr(net, "_optimizers", [])):
                raise ModelFileError(f"malformed skorch net: no optimizer {name!r}")
            state = self._decode(state)
            _check_optimizer_state(state, name)
            try:
                getattr(net, name + "_").load_state_dict(state)
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
                raise ModelFileError(
                    f"malformed skorch net: the state of optimizer {name!r} does "
                    f"not fit its parameters ({type(exc).__name__}: {exc})"
                ) from None
        history = self._decode(node["history"])
        from skorch.history import History

        net.history_ = History(history)
        return net


def _unfitted_callbacks(callbacks):
    """Callbacks without their fitted state (attributes ending in ``_``).

    ``initialize()`` on load re-initializes every callback of the net, so
    their fitted state is never used; an ``LRScheduler``'s ``lr_scheduler_``
    would drag in the live torch optimizer as an object. The optimizer's own
    state is stored as data (``optimizer_states``).
    """
    from skorch.callbacks import Callback

    out = []
    for item in callbacks:
        name, callback = item if isinstance(item, tuple) else (None, item)
        if isinstance(callback, Callback):
            copy = type(callback).__new__(type(callback))
            copy.__dict__.update(
                {k: v for k, v in vars(callback).items() if not k.endswith("_")}
            )
            callback = copy
        out.append(callback if name is None else (name, callback))
    return out


def _optimizer_state(optimizer, path):
    """An optimizer's ``state_dict`` if it holds data only; None (warned) if not.

    A custom optimizer keeping other objects in its state still lets the model
    be saved: it predicts identically, and continued training restarts that
    optimizer (as before optimizer states were stored).
    """
    if not hasattr(optimizer, "state_dict"):
        return None
    state = optimizer.state_dict()
    try:
        _check_optimizer_state(state, path)
    except ModelFileError as exc:
        warnings.warn(
            f"{path}: the optimizer state is not stored ({exc}); training "
            "continued after loading will restart this optimizer.",
            UserWarning,
            stacklevel=2,
        )
        return None
    return state


#: What an optimizer's state dict may hold (checked on save and on load).
_STATE_LEAVES = (type(None), bool, int, float, str)


def _is_numeric_array(value):
    if not (type(value) is np.ndarray or isinstance(value, np.generic)):
        return False
    return value.dtype.kind in "biuf"


def _check_optimizer_state(state, name):
    """Raise ModelFileError unless ``state`` is an optimizer state dict of data.

    Nested dicts, lists and tuples of numbers, strings, None, tensors and
    numeric numpy arrays: the shape torch's ``Optimizer.state_dict`` has.
    Anything else (an object a crafted file would smuggle in) is refused
    before torch sees it.
    """
    torch = _torch()
    if not (
        isinstance(state, dict)
        and isinstance(state.get("state"), dict)
        and isinstance(state.get("param_groups"), list)
    ):
        raise ModelFileError(
            f"malformed optimizer state {name!r}: expected a dict with 'state' and "
            "'param_groups'"
        )
    stack = [state]
    while stack:
        value = stack.pop()
        if isinstance(value, dict) and type(value) is dict:
            stack.extend(value.keys())
            stack.extend(value.values())
        elif type(value) in (list, tuple):
            stack.extend(value)
        elif not (
            type(value) in _STATE_LEAVES
            or type(value) is torch.Tensor
            or _is_numeric_array(value)
        ):
            raise ModelFileError(
                f"malformed optimizer state {name!r}: holds a "
                f"{type(value).__module__}.{type(value).__qualname__}"
            )


def _own_code(obj):
    """Whether a class or function is defined by skmm or scikit-learn."""
    module = getattr(obj, "__module__", None) or ""
    return any(module == p or module.startswith(p + ".") for p in ("skmm", "sklearn"))


def _is_skorch_class(cls):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover
        return False
    return isinstance(cls, type) and issubclass(cls, NeuralNet)
