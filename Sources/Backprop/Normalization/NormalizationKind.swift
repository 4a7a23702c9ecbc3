/// Every normalization layer Backprop provides.
///
/// The test suite asserts that each kind has gradient-check catalog cases whose names start with its
/// `catalogPrefix`, so adding a layer here without cases fails the suite.
public enum NormalizationKind: String, CaseIterable, Sendable {
    /// `BatchNorm`.
    case batchNorm
    /// `LayerNorm` (both variants).
    case layerNorm
    /// `GroupNorm`.
    case groupNorm
    /// `InstanceNorm`.
    case instanceNorm
    /// `RMSNorm`.
    case rmsNorm
    /// `BatchLayerNorm`.
    case batchLayerNorm

    /// The prefix of this layer's catalog case names, for example `"layerNorm["` (the op's name).
    package var catalogPrefix: String { rawValue + "[" }
}
