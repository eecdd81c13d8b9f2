def run_step(
    notebook: str,
    cells: dict,
    prelude: dict | None = None,
    parameters: dict | None = None,
    numbers: dict | None = None,
    inputs: dict | None = None,
    outputs: dict | None = None,
    metrics: tuple | None = None,
    guards: dict | None = None,
    ipython: bool = False,
    skip: tuple = (),
    together: tuple = (),
) -> None:
    """Run a step's notebook cells the way the notebook ran them.

    The cells run in one fresh module namespace registered as `__main__`, so
    `global` statements, functions reading globals, classes, `__name__` checks and
    top-level `await` behave as at a notebook's top level, and a traceback names
    the notebook cell and line. The prelude (imports and functions cells) runs
    first, then the values the step receives are loaded, then its cells run, then
    the values it hands on are saved. A value in `guards` that the cells change
    fails the step: a later step would read it as it was before. KFP hands list
    and dict parameters over with every number a float and dict keys in no
    order: `numbers` holds their notebook defaults, whose ints and key order
    the values get back. Values it hands on that share objects are pickled
    together; for those in `together`, numpy arrays that are views of one buffer
    count as sharing it, and stay views of it.
    """
    import ast
    import collections
    import copyreg
    import gc
    import importlib.util
    import inspect
    import linecache
    import math
    import operator
    import os
    import sys
    import types

    import cloudpickle

    # On a cluster, a workspace volume set in the notebook's metadata holds the
    # files steps hand on: start there, as the notebook started in its folder.
    if os.environ.get("NB2PIPE_WORKDIR"):
        os.chdir(os.environ["NB2PIPE_WORKDIR"])

    def retype(value, like):
        if type(like) is int and type(value) is float and value.is_integer():
            return int(value)
        if isinstance(value, list) and isinstance(like, list) and like:
            return [retype(v, like[min(i, len(like) - 1)]) for i, v in enumerate(value)]
        if isinstance(value, dict) and isinstance(like, dict):
            # KFP's Struct keeps no key order: the default's keys come first.
            keys = [k for k in like if k in value]
            keys += [k for k in value if k not in like]
            return {k: retype(value[k], like.get(k)) for k in keys}
        return value

    def inexact(value):
        """An int of the value that may be a neighbour of the int given, rounded
        as KFP passes every number: a 64-bit float, exact below 2**53."""
        if isinstance(value, (list, dict)):
            items = value.values() if isinstance(value, dict) else value
            return next((n for n in map(inexact, items) if n is not None), None)
        return value if type(value) is int and abs(value) >= 2**53 else None

    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace.update(parameters or {})
    for name, like in (numbers or {}).items():
        namespace[name] = retype(namespace[name], like)
    for name in parameters or {}:
        big = inexact(namespace[name])
        # nb2pipe refuses such a default or `--param`, but not a value given
        # in a KFP UI or to the script's own `--param`.
        if big is not None:
            raise ValueError(
                f"{notebook}: parameter {name!r} holds {big}, which may not be the "
                "int given: KFP passes numbers as 64-bit floats, exact for ints "
                "only below 2**53 in size; make the parameter a str in the notebook"
            )
    shell = None
    if ipython:  # magics and shell escapes run through IPython itself
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(user_module=module, user_ns=namespace)
        # Display settings and package installs: the step skips them (see README).
        for name in skip:
            for kind in ("line", "cell"):
                shell.magics_manager.magics[kind][name] = lambda *args, **kwargs: None

    def run(label, source):
        filename = f"{notebook}, {label}"
        code_text = source.removeprefix("\n")
        linecache.cache[filename] = (
            len(code_text),
            None,
            code_text.splitlines(True),
            filename,
        )
        if shell is not None:
            code_text = shell.transform_cell(code_text)
            for command in skip:
                call = f"get_ipython().system({command[1:]!r})"
                code_text = code_text.replace(call, "None")
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        code = compile(code_text, filename, "exec", flags=flags, dont_inherit=True)
        if code.co_flags & inspect.CO_COROUTINE:
            import asyncio

            asyncio.run(eval(code, namespace))
        elif shell is not None:
            with shell.builtin_trap:
                exec(code, namespace)  # noqa: S102 - running the notebook's cells is the point
        else:
            exec(code, namespace)  # noqa: S102 - running the notebook's cells is the point
        if "matplotlib.pyplot" in sys.modules:  # as Jupyter's inline backend does
            sys.modules["matplotlib.pyplot"].close("all")

    def save(value, path, reached=None, views=False):
        """Write a value handed on; the format's name goes in the artifact's metadata.

        Arrays go to .npy and DataFrames to Arrow IPC (feather), as fast as copying
        their bytes and readable without nb2pipe; what those formats would not give
        back exactly (object dtypes, column names that are not strings, an index
        other than a range or plain one, attrs) is pickled, as is everything else.
        The data objects the value holds go into `reached`, by id; with `views`,
        an array's buffer too.
        """
        if reached is not None:
            reached[id(value)] = value
        np = sys.modules.get("numpy")
        base = getattr(value, "base", None) if views and np is not None else None
        if reached is not None and np is not None and isinstance(base, np.ndarray):
            reached[id(base)] = base
        if np is not None and type(value) is np.ndarray and not value.dtype.hasobject:
            with open(path, "wb") as f:
                np.save(f, value, allow_pickle=False)
            return "npy"
        if arrow_exact(value):
            import pyarrow.feather

            pyarrow.feather.write_feather(value, path, compression="uncompressed")
            return "feather"
        with open(path, "wb") as f:
            Pickler(f, protocol=5, reached=reached).dump(value)
        return "cloudpickle"

    def sharing(reached):
        """Groups of names, each of two or more, whose values share an object."""
        parent = {name: name for name in reached}

        def root(name):
            while parent[name] != name:
                name = parent[name]
            return name

        owner = {}
        for name in sorted(reached):
            for key in reached[name]:
                parent[root(name)] = root(owner.setdefault(key, name))
        found = {}
        for name in sorted(reached):
            found.setdefault(root(name), []).append(name)
        return [names for names in found.values() if len(names) > 1]

    def save_together(values, artifacts):
        """Values that share objects go in one pickle, written to each of their
        artifacts, so a step receiving several of them gets one object graph."""
        import io
        import uuid

        token = uuid.uuid4().hex.encode()
        buffer = io.BytesIO()
        Pickler(buffer, protocol=5, views=True).dump(values)
        for name in values:
            with open(artifacts[name].path, "wb") as f:
                f.write(GROUP + token + b"\n")
                f.write(buffer.getbuffer())
            artifacts[name].metadata["format"] = "cloudpickle-group"
            artifacts[name].metadata["shared_with"] = sorted(set(values) - {name})

    def arrow_exact(frame):
        np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
        if pd is None or type(frame) is not pd.DataFrame:
            return False

        def plain(dtype):
            if isinstance(dtype, pd.StringDtype):
                return dtype.storage == "pyarrow"
            return isinstance(dtype, np.dtype) and dtype.kind in "biufmM"

        index, columns = frame.index, frame.columns
        return (
            importlib.util.find_spec("pyarrow") is not None
            and not frame.attrs
            and frame.flags.allows_duplicate_labels
            and type(columns) is pd.Index
            and len(columns) > 0
            and columns.is_unique
            and plain(columns.dtype)
            and all(type(label) is str for label in columns)
            and (type(index) is pd.RangeIndex or type(index) is pd.Index)
            and plain(index.dtype)
            and all(plain(dtype) for dtype in frame.dtypes)
        )

    def load(name, path):
        with open(path, "rb") as f:
            magic = f.read(6)  # each format `save` writes starts with its own
            if magic == b"\x93NUMPY":
                import numpy

                f.seek(0)
                return numpy.load(f, allow_pickle=False)
            if magic == GROUP:  # see save_together
                token = f.readline()
                if token not in groups:
                    groups[token] = Unpickler(f).load()
                return groups[token][name]
            if magic != b"ARROW1":
                f.seek(0)
                return Unpickler(f).load()
        try:
            import pyarrow.feather
        except ImportError:
            raise ImportError(
                f"{notebook}: {name!r} was handed on as an Arrow file, and reading "
                "it needs pyarrow: add it to this step's image"
            ) from None
        return pyarrow.feather.read_feather(path)

    import pickle

    defined = {}  # the prelude's classes and functions, which every step defines
    sentinels = {}  # id -> name of the prelude's bare `object()`s
    SENTINEL = "nb2pipe:object:"
    unbound = type("Unbound", (), {"__repr__": lambda self: "<unbound>"})()

    made_cells = {}  # a closure cell as pickled -> the cell standing in for it

    def rebuild(code, name, keys=()):
        """A function of an earlier step, reading this step's globals. Closures
        pickled together that shared a cell (`inc, get = counter()`) share one."""
        cells = tuple(made_cells.setdefault(key, types.CellType()) for key in keys)
        return types.FunctionType(code, namespace, name, None, cells or None)

    def restore(function, state):
        cells, attributes = state
        for i, value in cells.items():
            function.__closure__[i].cell_contents = value
        for attribute, value in attributes.items():
            setattr(function, attribute, value)

    helpers = {"nb2pipe:function": rebuild, "nb2pipe:restore": restore}
    helpers["nb2pipe:unbound"] = unbound

    def exception_reduce(error):
        """An exception made without its __init__, which may take other arguments
        than it gave Exception's (pickle calls it with those); no traceback."""
        return copyreg.__newobj__, (type(error), *error.args), vars(error) or None

    dict_views = {type({}.keys()): "keys", type({}.values()): "values"}
    dict_views[type({}.items())] = "items"
    GROUP = b"NB2GRP"  # the start of a file save_together writes
    groups = {}  # token -> the values of one save_together, as this step loaded them
    named = set()  # ids of the values a step hands on (see holds_data)
    code_like = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)

    def holds_data(obj):
        """Containers and objects a step can change, not classes, functions,
        modules, dtypes or the other singletons many values refer to. An empty
        container counts only if it is the value of a name (`history = []`):
        libraries share empty ones as class defaults, like `_metadata`."""
        if isinstance(obj, (list, dict, set, bytearray, collections.deque)):
            return len(obj) > 0 or id(obj) in named
        module = type(obj).__module__.partition(".")[0]
        if module == "numpy":
            return type(obj).__name__ == "ndarray"
        if module == "pandas":  # indexes and dtypes are shared, and immutable
            return type(obj).__name__ in ("DataFrame", "Series")
        kind = type(obj).__name__  # `cython_function_or_method` and the like
        if isinstance(obj, code_like) or "function" in kind or "method" in kind:
            return False
        return hasattr(obj, "__dict__") or bool(getattr(type(obj), "__slots__", ()))

    class Pickler(cloudpickle.Pickler):
        def __init__(self, file, protocol=None, reached=None, views=False):
            super().__init__(file, protocol=protocol)
            self.reached = reached
            self.session = os.urandom(8).hex()  # tells its closure cells apart
            self.views = views  # keep arrays that view one buffer views of it

        def persistent_id(self, obj):
            if self.reached is not None and holds_data(obj):
                # Kept alive, so no later object can come to have its id.
                self.reached[id(obj)] = obj
            for pid, helper in helpers.items():
                if obj is helper:
                    return pid
            # By name, so a value of a notebook class is an instance of the class
            # the next step defines, and notebook functions read that step's globals.
            name = getattr(obj, "__qualname__", None)
            if name and defined.get(name) is obj:
                return name
            # A sentinel of the prelude (`MISSING = object()`): the next step's own.
            if type(obj) is object and id(obj) in sentinels:
                return SENTINEL + sentinels[id(obj)]
            return None

        def reducer_override(self, obj):
            # A function defined in the notebook (in a step, a method, inside a
            # container or a closure) reads the globals of the step that loads it,
            # as the notebook's one namespace would give it. Its closure and
            # attributes are set after it exists, so a function that refers to
            # itself pickles too.
            if type(obj) is types.FunctionType and obj.__globals__ is namespace:
                cells = {}
                for i, cell in enumerate(obj.__closure__ or ()):
                    try:
                        value = cell.cell_contents
                    except ValueError:  # an empty cell stays empty
                        continue
                    cells[i] = value
                attributes = {
                    attribute: getattr(obj, attribute)
                    for attribute in (
                        "__defaults__",
                        "__kwdefaults__",
                        "__qualname__",
                        "__module__",
                        "__doc__",
                        "__annotations__",
                        "__dict__",
                    )
                }
                state = (cells, attributes)
                keys = []
                for cell in obj.__closure__ or ():
                    keys.append((self.session, id(cell)))
                    if self.reached is not None:  # functions sharing it go together
                        self.reached[id(cell)] = cell
                args = (obj.__code__, obj.__name__, tuple(keys))
                return rebuild, args, state, None, None, restore
            if isinstance(obj, BaseException):
                return exception_reduce(obj)
            view = dict_views.get(type(obj))
            if view is not None:  # a view of its dict, not a copy of its items
                mapping = gc.get_referents(obj.mapping)[0]
                return operator.methodcaller(view), (mapping,)
            np = sys.modules.get("numpy") if self.views else None
            if np is not None and type(obj) is np.ndarray:
                base = obj.base
                if (
                    type(base) is np.ndarray
                    and not obj.dtype.hasobject
                    and (base.flags.c_contiguous or base.flags.f_contiguous)
                ):
                    start = base.__array_interface__["data"][0]
                    offset = obj.__array_interface__["data"][0] - start
                    return np.ndarray, (obj.shape, obj.dtype, base, offset, obj.strides)
            return super().reducer_override(obj)

    def fingerprint(value):
        """A checksum of what a step could change in a value, or None where it
        cannot be taken reliably (then the value is not checked).

        Contents, not layout or caches: arrays by their bytes, pandas objects by
        their row hashes, containers and objects item by item. Of an object made
        by a library only its public attributes count (fitted `coef_`, not the
        query counters of a search tree); a notebook class's count in full but
        for its `cached_property` values. Other pandas and matplotlib objects
        keep caches in their state: not checked.
        """
        import functools
        import zlib

        class Checksum:
            crc = 0

            def write(self, data):
                self.crc = zlib.crc32(data, self.crc)

        class Unchecked(Exception):
            pass

        out = Checksum()
        np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
        plain = (int, float, complex, str, bytes, bool, type(None))

        def feed(value, depth):
            if depth > 50:
                raise Unchecked
            out.write(type(value).__qualname__.encode())
            if type(value) in plain:
                out.write(repr(value).encode())
            elif np is not None and type(value) is np.ndarray:
                if value.dtype.hasobject:
                    feed(value.tolist(), depth + 1)
                else:
                    out.write(repr((value.shape, value.dtype.str)).encode())
                    out.write(np.ascontiguousarray(value).data)
            elif pd is not None and isinstance(
                value, (pd.DataFrame, pd.Series, pd.Index)
            ):
                try:
                    rows = pd.util.hash_pandas_object(value, index=True)
                except TypeError:  # unhashable cells, like lists
                    raise Unchecked from None
                # Text that holds no display setting: names and dtypes, listed.
                if isinstance(value, pd.DataFrame):
                    labels, kinds = list(value.columns), list(map(str, value.dtypes))
                else:
                    labels, kinds = [value.name], [str(value.dtype)]
                out.write(repr((value.shape, labels, kinds)).encode())
                out.write(rows.to_numpy().data)
            elif type(value).__module__.partition(".")[0] in ("pandas", "matplotlib"):
                raise Unchecked
            elif isinstance(value, (list, tuple)):
                out.write(str(len(value)).encode())
                for item in value:
                    feed(item, depth + 1)
            elif isinstance(value, dict):  # a Counter or an OrderedDict too
                out.write(str(len(value)).encode())
                for key, item in value.items():
                    feed(key, depth + 1)
                    feed(item, depth + 1)
            elif defined.get(getattr(value, "__qualname__", None)) is value:
                # The prelude's own, pickled by name: what a step can change in it.
                if isinstance(value, type):
                    feed(attributes(value, vars(value), own=False), depth + 1)
                else:
                    closure = [c.cell_contents for c in value.__closure__ or ()]
                    feed([value.__defaults__, value.__kwdefaults__, closure], depth + 1)
                    feed(dict(value.__dict__), depth + 1)
            elif hasattr(value, "__dict__") and not isinstance(value, type):
                own = type(value).__module__ == "__main__"
                feed(attributes(value, vars(value), own), depth + 1)
                if own:  # a notebook class's attributes show through its objects
                    kind = type(value)
                    feed(attributes(kind, vars(kind), own=False), depth + 1)
            else:
                Pickler(out, protocol=5).dump(value)

        def attributes(value, state, own):
            kind = value if isinstance(value, type) else type(value)
            return {
                key: item
                for key, item in state.items()
                if not key.startswith("__")
                and (own or not key.startswith("_"))
                and not isinstance(getattr(kind, key, None), functools.cached_property)
                and not isinstance(
                    item, (types.FunctionType, classmethod, staticmethod)
                )
            }

        try:
            feed(value, 0)
        except Exception:  # noqa: BLE001 - Unchecked, or not comparable: not checked
            return None
        return out.crc

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, name):
            if name in helpers:
                return helpers[name]
            return namespace[name.removeprefix(SENTINEL)]

    def keep_final_values(request, cells):
        """Save the names a last step binds, which `nb2pipe verify` compares."""
        import json

        request = json.loads(request)
        step = next((request["steps"][c] for c in cells if c in request["steps"]), None)
        if step is None:
            return
        folder = os.path.join(request["folder"], step["step"])
        os.makedirs(folder, exist_ok=True)
        for name in step["names"]:
            if name in namespace:
                path = os.path.join(folder, name)
                try:
                    save(namespace[name], path)
                except Exception:  # noqa: BLE001 - not comparable: an empty file
                    open(path, "wb").close()

    def set_environment(variables):
        for key, value in variables.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # pickle finds the notebook's classes here
    # The notebook's logging starts unconfigured, as in a kernel: without KFP's
    # own handlers, `logging.basicConfig(filename=...)` takes effect.
    import logging

    root_handlers = logging.root.handlers[:]
    logging.root.handlers.clear()
    try:
        for label, source in (prelude or {}).items():
            run(label, source)
        defined.update(
            (name, value)
            for name, value in namespace.items()
            if isinstance(value, (type, types.FunctionType))
            and value.__module__ == "__main__"
            and name not in (outputs or {})  # changed by this step: by value
        )
        sentinels.update(
            (id(value), name)
            for name, value in namespace.items()
            if type(value) is object
        )
        inputs, outputs = dict(inputs or {}), dict(outputs or {})
        environment = {}  # variables earlier steps set, which this step hands on
        if "os.environ" in inputs:
            environment = load("os.environ", inputs.pop("os.environ").path)
            set_environment(environment)
        environment_before = dict(os.environ)
        for name, artifact in inputs.items():
            try:
                value = load(name, artifact.path)
            except Exception as e:  # any unpickling failure, explained
                if str(e).startswith(f"{notebook}: "):  # explained already
                    raise
                raise TypeError(
                    f"{notebook}: {name!r}, handed on by an earlier step, cannot be "
                    f"loaded here: {type(e).__name__}: {e}. Its value does not come "
                    "back from pickling (a class whose __reduce__ or __setstate__ "
                    "fails, say); create it in the step that uses it"
                ) from None
            if value is unbound:  # unbound where it was made: so it is here too
                namespace.pop(name, None)
            else:
                namespace[name] = value

        def reachable(name):
            """The value of `name` in this step: bound, or loaded with a group."""
            if name in namespace:
                return namespace[name]
            return next((g[name] for g in groups.values() if name in g), unbound)

        checked = {}  # name -> (the step that reads it later, its checksum)
        for name, reader in (guards or {}).items():
            value = reachable(name)
            if value is not unbound:
                checked[name] = (reader, fingerprint(value))
        for label, source in cells.items():
            run(label, source)
        for name, (reader, before) in checked.items():
            value = reachable(name)
            if before is None or value is unbound:
                continue
            if fingerprint(value) != before:
                raise RuntimeError(
                    f"{notebook}: this step changed {name!r} in a way nb2pipe's "
                    "analysis does not follow (through another name for it, or a "
                    f"call it cannot see into), and step {reader!r} would read it "
                    f"as it was before; add the line `{name} = {name}` after the "
                    "change so this step hands it on"
                )
        if "os.environ" in outputs:
            for key in environment_before.keys() | os.environ.keys():
                if environment_before.get(key) != os.environ.get(key):
                    environment[key] = os.environ.get(key)
            namespace["os.environ"] = environment
        reached = {}  # output -> the data objects it holds, by id
        named.update(id(namespace[n]) for n in outputs if n in namespace)
        for name, artifact in outputs.items():
            if name not in namespace:  # bound on some paths only, as in the notebook
                with open(artifact.path, "wb") as f:
                    Pickler(f, protocol=5).dump(unbound)
                artifact.metadata["format"] = "unbound"
                continue
            try:
                # Sharing needs two values; one alone is not tracked.
                track = reached.setdefault(name, {}) if len(outputs) > 1 else None
                value = namespace[name]
                views = name in together
                artifact.metadata["format"] = save(value, artifact.path, track, views)
            except Exception as e:  # noqa: BLE001 - any pickling failure, explained
                kind = type(namespace[name]).__name__
                raise TypeError(
                    f"{notebook}: {name!r} (a {kind}) cannot be handed to the next "
                    f"step: {e}. Create it in the step that uses it, or in a "
                    "`functions` cell"
                ) from None
        for group in sharing(reached):
            save_together({name: namespace[name] for name in group}, outputs)
        if metrics is not None:
            artifact, names = metrics
            for name in names:
                if name not in namespace:
                    raise NameError(
                        f"{notebook}: the metric {name!r} is not defined at the end "
                        "of the step"
                    )
                value = namespace[name]
                try:
                    if isinstance(value, (str, bytes)):
                        raise TypeError
                    number = float(value)
                except (TypeError, ValueError):
                    text = repr(value)
                    text = text if len(text) <= 80 else text[:77] + "..."
                    raise TypeError(
                        f"{notebook}: the metric {name!r} is {text} (a "
                        f"{type(value).__name__}), not a number: KFP metrics are "
                        "numbers"
                    ) from None
                if not math.isfinite(number):
                    raise ValueError(
                        f"{notebook}: the metric {name!r} is {number}, which KFP "
                        "cannot record: KFP metrics are finite numbers"
                    )
                artifact.log_metric(name, number)
        if os.environ.get("NB2PIPE_VERIFY_FINAL"):  # set by `nb2pipe verify` alone
            keep_final_values(os.environ["NB2PIPE_VERIFY_FINAL"], cells)
    finally:
        sys.modules["__main__"] = main
        logging.root.handlers[:] = root_handlers
