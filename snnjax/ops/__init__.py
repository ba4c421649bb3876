"""Time-scan operators: run a neuron model over all time steps, forward and backward."""

from ._neuron_scan import IMPLS as IMPLS
from ._neuron_scan import ScanResult as ScanResult
from ._neuron_scan import neuron_scan as neuron_scan
from ._neuron_scan import neuron_scan_reference as neuron_scan_reference
