"""Time-scan operators: run a neuron model over all time steps, forward and backward."""

from ._common import ScanResult as ScanResult
from ._neuron_scan import IMPLS as IMPLS
from ._neuron_scan import neuron_scan as neuron_scan
from ._neuron_scan import neuron_scan_reference as neuron_scan_reference
from ._pallas_backend import BACKENDS as BACKENDS
from ._pallas_backend import MEMORY_MODES as MEMORY_MODES
from ._pallas_backend import BlockSizes as BlockSizes
from ._pipeline import neuron_scan_pipelined as neuron_scan_pipelined
