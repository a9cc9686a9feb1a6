"""The demo-data generator: a synthetic data folder in the DFU study's exact layout (metadata CSV, two box CSVs,
four image folders), for demos, tests, benchmarks and CI — the real images are private (docs/demo-data.md).

Its own package because no trial runs it: it builds data for the trainer (whose schema and reader it uses) and
knows nothing of training, the search or the storage. ``dfu-search demo-data`` is its command line.
"""

from demodata._folder import GENERATOR_VERSION, METADATA_NAME, DemoSummary, phases_for_labels, write_demo_data
from demodata._images import IMAGE_SIGNAL
from demodata._metadata import COLUMNS, LABEL_SHARES, METADATA_SIGNAL, world_constants

__all__ = [
    "COLUMNS",
    "GENERATOR_VERSION",
    "IMAGE_SIGNAL",
    "LABEL_SHARES",
    "METADATA_NAME",
    "METADATA_SIGNAL",
    "DemoSummary",
    "phases_for_labels",
    "world_constants",
    "write_demo_data",
]
