#!/usr/bin/python3
"""Run Debian's vsmartcard `vicc` with Debian's pycryptodome.

vicc imports pycryptodome as `Crypto`; Debian ships the same library as
`Cryptodome` (package python3-pycryptodome). When `Crypto` itself is not
installed, every `Crypto.X` import is answered with the `Cryptodome.X` module
(the same module object, so nothing is loaded twice).

Usage: vicc.py VICC_ARGS...   (the arguments of /usr/bin/vicc)
"""
import importlib
import importlib.abc
import importlib.util
import runpy
import sys


class CryptodomeAsCrypto(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import `Crypto[.X]` as the already importable `Cryptodome[.X]`."""

    def find_spec(self, name, path=None, target=None):
        if name == "Crypto" or name.startswith("Crypto."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("Cryptodome" + spec.name[len("Crypto"):])

    def exec_module(self, module):
        pass


try:
    import Crypto  # noqa: F401  (pycryptodome installed under its own name)
except ImportError:
    sys.meta_path.insert(0, CryptodomeAsCrypto())

sys.argv = ["/usr/bin/vicc"] + sys.argv[1:]
runpy.run_path("/usr/bin/vicc", run_name="__main__")
