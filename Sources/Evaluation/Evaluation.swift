// Cross-validation, metrics, ensembles, submissions and reports.

import Heads
import FeatureStore
