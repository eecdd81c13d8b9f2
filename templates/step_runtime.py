def run_step(
    notebook: str,
    cells: dict,
    prelude: dict | None = None,
    parameters: dict | None = None,
    inputs: dict | None = None,
    outputs: dict | None = None,
    metrics: tuple | None = None,
    ipython: bool = False,
    skip: tuple = (),
) -> None:
    """Run a step's notebook cells the way the notebook ran them.

    The cells run in one fresh module namespace registered as `__main__`, so
    `global` statements, functions reading globals, classes, `__name__` checks and
    top-level `await` behave as at a notebook's top level, and a traceback names
    the notebook cell and line. The prelude (imports and functions cells) runs
    first, then the values the step receives are loaded, then its cells run, then
    the values it hands on are saved.
    """
    import ast
    import importlib.util
    import inspect
    import linecache
    import os
    import sys
    import types

    import cloudpickle

    # On a cluster, a workspace volume set in the notebook's metadata holds the
    # files steps hand on: start there, as the notebook started in its folder.
    if os.environ.get("NB2PIPE_WORKDIR"):
        os.chdir(os.environ["NB2PIPE_WORKDIR"])
    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace.update(parameters or {})
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

    def save(value, path):
        """Write a value handed on; the format's name goes in the artifact's metadata.

        Arrays go to .npy and DataFrames to Arrow IPC (feather), as fast as copying
        their bytes and readable without nb2pipe; what those formats would not give
        back exactly (object dtypes, column names that are not strings, an index
        other than a range or plain one, attrs) is pickled, as is everything else.
        """
        np = sys.modules.get("numpy")
        if np is not None and type(value) is np.ndarray and not value.dtype.hasobject:
            with open(path, "wb") as f:
                np.save(f, value, allow_pickle=False)
            return "npy"
        if arrow_exact(value):
            import pyarrow.feather

            pyarrow.feather.write_feather(value, path, compression="uncompressed")
            return "feather"
        with open(path, "wb") as f:
            Pickler(f, protocol=5).dump(value)
        return "cloudpickle"

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

    class Pickler(cloudpickle.Pickler):
        def persistent_id(self, obj):
            # By name, so a value of a notebook class is an instance of the class
            # the next step defines, and notebook functions read that step's globals.
            name = getattr(obj, "__qualname__", None)
            return name if name and defined.get(name) is obj else None

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, name):
            return namespace[name]

    def set_environment(variables):
        for key, value in variables.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # pickle finds the notebook's classes here
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
        inputs, outputs = dict(inputs or {}), dict(outputs or {})
        environment = {}  # variables earlier steps set, which this step hands on
        if "os.environ" in inputs:
            environment = load("os.environ", inputs.pop("os.environ").path)
            set_environment(environment)
        environment_before = dict(os.environ)
        for name, artifact in inputs.items():
            value = load(name, artifact.path)
            if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
                # A function made in an earlier step reads this step's globals.
                value = types.FunctionType(
                    value.__code__,
                    namespace,
                    value.__name__,
                    value.__defaults__,
                    value.__closure__,
                )
            namespace[name] = value
        for label, source in cells.items():
            run(label, source)
        if "os.environ" in outputs:
            for key in environment_before.keys() | os.environ.keys():
                if environment_before.get(key) != os.environ.get(key):
                    environment[key] = os.environ.get(key)
            namespace["os.environ"] = environment
        for name, artifact in outputs.items():
            if name not in namespace:
                raise NameError(
                    f"{notebook}: the step ended without defining {name!r}, "
                    "which a later step reads"
                )
            try:
                artifact.metadata["format"] = save(namespace[name], artifact.path)
            except Exception as e:  # noqa: BLE001 - any pickling failure, explained
                kind = type(namespace[name]).__name__
                raise TypeError(
                    f"{notebook}: {name!r} (a {kind}) cannot be handed to the next "
                    f"step: {e}. Create it in the step that uses it, or in a "
                    "`functions` cell"
                ) from None
        if metrics is not None:
            artifact, names = metrics
            for name in names:
                artifact.log_metric(name, float(namespace[name]))
    finally:
        sys.modules["__main__"] = main
