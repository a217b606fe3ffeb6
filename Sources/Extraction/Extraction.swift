// Images → views → backbone → feature cache: the first half of the main job.

import Backbones
import FeatureStore
import Imaging
