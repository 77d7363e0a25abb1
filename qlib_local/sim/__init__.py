"""A protocol-faithful local OKX V5 exchange replaying the K-line store (loopback only).

``LocalExchange`` is the Python API; ``qlib-local sim serve`` the command line.
"""

from qlib_local.sim.accounts import Account
from qlib_local.sim.auth import sign
from qlib_local.sim.clock import SimClock
from qlib_local.sim.faults import Faults
from qlib_local.sim.matching import FeeModel
from qlib_local.sim.protocol import OkxError
from qlib_local.sim.server import LocalExchange

__all__ = ["Account", "FeeModel", "Faults", "LocalExchange", "OkxError", "SimClock", "sign"]
