"""The ``fleep-async`` command's parts: options and errors, the session file, output, commands.

The entry point is :func:`fleep_async.cli.main`.
"""
