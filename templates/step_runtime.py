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
    import inspect
    import linecache
    import sys
    import types

    import cloudpickle

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

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # pickle finds the notebook's classes here
    try:
        for label, source in (prelude or {}).items():
            run(label, source)
        for name, artifact in (inputs or {}).items():
            with open(artifact.path, "rb") as f:
                value = cloudpickle.load(f)
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
        for name, artifact in (outputs or {}).items():
            if name not in namespace:
                raise NameError(
                    f"{notebook}: the step ended without defining {name!r}, "
                    "which a later step reads"
                )
            try:
                payload = cloudpickle.dumps(namespace[name], protocol=5)
            except Exception as e:  # noqa: BLE001 - any pickling failure, explained
                kind = type(namespace[name]).__name__
                raise TypeError(
                    f"{notebook}: {name!r} (a {kind}) cannot be handed to the next "
                    f"step: {e}. Create it in the step that uses it, or in a "
                    "`functions` cell"
                ) from None
            with open(artifact.path, "wb") as f:
                f.write(payload)
        if metrics is not None:
            artifact, names = metrics
            for name in names:
                artifact.log_metric(name, float(namespace[name]))
    finally:
        sys.modules["__main__"] = main
