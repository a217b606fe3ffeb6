// The embedding cache: features/<dataset>/<backbone>-<view>[-d4].npy plus a JSON manifest.
// The only link between the embedding half and the learning half.

/// Version of the cache layout; a manifest with another version means re-extract.
public let featureFormatVersion = 1
