// Generators that make our own fakes (issue 4), CPU-sized for 32 and 64 px:
// - DCGAN (Radford et al. 2016): transposed-conv generator, strided-conv discriminator with batch norm;
// - WGAN-GP (Gulrajani et al. 2017): the same generator, a critic without batch norm, gradient penalty;
// - SNGAN (Miyato et al. 2018): the discriminator's convs spectrally normalised (one power iteration per step);
// - DDPM (Ho et al. 2020): an epsilon-predicting U-Net with sinusoidal time embedding, linear or cosine
//   (Nichol & Dhariwal 2021) beta schedule, ancestral and DDIM (Song et al. 2021) sampling.
import Foundation
import NN
import Torch

/// z [N, latent] -> image [N, 3, S, S] in [-1, 1]: ConvT(4, 1, 0) to 4x4, then ConvT(4, 2, 1) doublings.
public final class DCGANGenerator: Module {
    public let latent: Int, imageSize: Int
    public let net: Sequential
    public init(latent: Int = 100, width: Int = 64, imageSize: Int = 32) {
        precondition([32, 64].contains(imageSize), "DCGANGenerator: imageSize must be 32 or 64")
        self.latent = latent
        self.imageSize = imageSize
        let doublings = imageSize == 32 ? 3 : 4
        var c = width << (doublings - 1)
        var layers: [Module] = [ConvTranspose2d(inputChannels: latent, outputChannels: c, kernelSize: 4, bias: false),
                                BatchNorm(features: c), ReLU()]
        for _ in 0..<(doublings - 1) {
            layers += [ConvTranspose2d(inputChannels: c, outputChannels: c / 2, kernelSize: 4, stride: 2, padding: 1, bias: false),
                       BatchNorm(features: c / 2), ReLU()]
            c /= 2
        }
        layers += [ConvTranspose2d(inputChannels: c, outputChannels: 3, kernelSize: 4, stride: 2, padding: 1), Activation(.tanh)]
        net = Sequential(layers)
        super.init()
        register("net", net)
        dcganInit(self)
    }
    public override func callAsFunction(_ z: Tensor) -> Tensor { net(z.reshaped([z.size(0), latent, 1, 1])) }
}

/// The discriminator/critic normalisation: DCGAN uses batch norm, the WGAN-GP critic none (the penalty is
/// per sample), SNGAN spectral normalisation of every conv.
public enum DiscriminatorNorm: String, Sendable, Codable, CaseIterable { case batch, none, spectral }

/// image [N, 3, S, S] -> logit/critic value [N, 1]: Conv(4, 2, 1) halvings with LeakyReLU(0.2), then Conv(4, 1, 0).
public final class DCGANDiscriminator: Module {
    public let net: Sequential
    public init(width: Int = 64, imageSize: Int = 32, norm: DiscriminatorNorm = .batch) {
        precondition([32, 64].contains(imageSize), "DCGANDiscriminator: imageSize must be 32 or 64")
        let halvings = imageSize == 32 ? 3 : 4
        func conv(_ i: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int, bias: Bool) -> Module {
            norm == .spectral ? SpectralNormConv2d(inputChannels: i, outputChannels: o, kernelSize: k, stride: s, padding: p)
                : Conv2d(inputChannels: i, outputChannels: o, kernelSize: k, stride: s, padding: p, bias: bias)
        }
        var layers: [Module] = [conv(3, width, 4, 2, 1, bias: true), Activation(.leakyRelu(0.2))]
        var c = width
        for _ in 0..<(halvings - 1) {
            layers.append(conv(c, c * 2, 4, 2, 1, bias: norm != .batch))
            if norm == .batch { layers.append(BatchNorm(features: c * 2)) }
            layers.append(Activation(.leakyRelu(0.2)))
            c *= 2
        }
        layers += [conv(c, 1, 4, 1, 0, bias: true), Flatten()]
        net = Sequential(layers)
        super.init()
        register("net", net)
        dcganInit(self)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { net(x) }
}

/// DCGAN's initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02) and biases 0.
func dcganInit(_ m: Module) {
    withNoGrad {
        for (_, l) in m.namedModules() {
            switch l {
            case is Conv2d, is ConvTranspose2d, is SpectralNormConv2d:
                for (n, p) in l.parameterSlots {
                    if n == "weight" || n == "weight_orig" { Init.normal_(p, mean: 0, std: 0.02) } else if n == "bias" { p.zero_() }
                }
            case is BatchNorm:
                for (n, p) in l.parameterSlots { if n == "weight" { Init.normal_(p, mean: 1, std: 0.02) } else { p.zero_() } }
            default: break
            }
        }
    }
}

/// Conv2d whose weight is divided by its largest singular value, estimated by one power iteration per
/// training forward (torch.nn.utils.spectral_norm). Keys: weight_orig, bias, weight_u, weight_v.
public final class SpectralNormConv2d: Module {
    public let stride: (Int, Int), padding: (Int, Int)
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        super.init()
        let w = registerParameter("weight_orig", Tensor.empty([outputChannels, inputChannels, kernelSize, kernelSize]))
        Init.kaimingUniform_(w, a: 5.0.squareRoot())
        if bias {
            let bound = 1 / Double(Init.fans(w.shape).fanIn).squareRoot()
            Init.uniform_(registerParameter("bias", Tensor.empty([outputChannels])), -bound, bound)
        }
        let u = Tensor.empty([outputChannels]), v = Tensor.empty([inputChannels * kernelSize * kernelSize])
        Init.normal_(u)
        Init.normal_(v)
        registerBuffer("weight_u", u / (u.norm() + 1e-12))
        registerBuffer("weight_v", v / (v.norm() + 1e-12))
    }
    /// The spectrally normalised weight; in training mode the power iteration advances `weight_u`/`weight_v` first.
    public func normalizedWeight() -> Tensor {
        let w = parameter("weight_orig")
        let m = w.reshaped([w.size(0), -1])
        if isTraining {
            withNoGrad {
                var u = buffer("weight_u"), v = buffer("weight_v")
                let vv = m.transposed(0, 1).matmul(u)
                v = vv / (vv.norm() + 1e-12)
                let uu = m.matmul(v)
                u = uu / (uu.norm() + 1e-12)
                buffer("weight_u").copy_(u)
                buffer("weight_v").copy_(v)
            }
        }
        // Clones, as PyTorch does: a later forward updates the buffers in place while this graph still needs them.
        let sigma = (buffer("weight_u").cloned() * m.matmul(buffer("weight_v").cloned())).sum()
        return w / sigma
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: normalizedWeight(), bias: optionalParameter("bias"), stride: stride, padding: padding)
    }
}

// MARK: Diffusion

/// A DDPM noise schedule over `steps` timesteps: betas, alphas and their cumulative products.
public struct DiffusionSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case linear, cosine }
    public let kind: Kind
    public let betas: [Double]
    public let alphaBars: [Double]
    public var steps: Int { betas.count }

    public init(_ kind: Kind, steps: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) {
        precondition(steps >= 2, "DiffusionSchedule: at least 2 steps")
        self.kind = kind
        switch kind {
        case .linear:
            betas = (0..<steps).map { betaStart + (betaEnd - betaStart) * Double($0) / Double(steps - 1) }
        case .cosine:
            // alphaBar(t) = f(t)/f(0), f(t) = cos^2(((t/T) + s)/(1 + s) * pi/2), betas clipped at 0.999.
            let s = 0.008
            func f(_ t: Double) -> Double { let c = cos((t / Double(steps) + s) / (1 + s) * Double.pi / 2); return c * c }
            betas = (0..<steps).map { min(1 - f(Double($0 + 1)) / f(Double($0)), 0.999) }
        }
        var bar = 1.0
        alphaBars = betas.map { bar *= 1 - $0; return bar }
    }

    /// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, for per-sample timesteps `t` (0-based).
    public func noised(_ x0: Tensor, noise: Tensor, t: [Int]) -> Tensor {
        let a = t.map { Float(alphaBars[$0].squareRoot()) }, b = t.map { Float((1 - alphaBars[$0]).squareRoot()) }
        let shape = [t.count, 1, 1, 1]
        return x0 * Tensor(a, shape: shape) + noise * Tensor(b, shape: shape)
    }

    /// The deterministic DDIM update (eta = 0) from timestep `t` to `previous` (-1 = the clean image):
    /// x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clipped to [-1, 1]; x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps.
    public func ddimStep(_ x: Tensor, eps: Tensor, t: Int, previous: Int) -> Tensor {
        let abar = alphaBars[t], prev = previous >= 0 ? alphaBars[previous] : 1.0
        let x0 = ((x - eps * (1 - abar).squareRoot()) / abar.squareRoot()).clamped(min: -1, max: 1)
        let epsClipped = (x - x0 * abar.squareRoot()) / (1 - abar).squareRoot()
        return x0 * prev.squareRoot() + epsClipped * (1 - prev).squareRoot()
    }

    /// The ancestral DDPM step (Ho et al. eq. 11, sigma_t^2 = beta_t) from `t` to `t - 1`; `noise` is N(0, I).
    public func ddpmStep(_ x: Tensor, eps: Tensor, t: Int, noise: Tensor) -> Tensor {
        let beta = betas[t], abar = alphaBars[t]
        let mean = (x - eps * (beta / (1 - abar).squareRoot())) / (1 - beta).squareRoot()
        return t > 0 ? mean + noise * beta.squareRoot() : mean
    }

    /// `count` evenly spaced timesteps from the last to the first, for DDIM sampling.
    public func samplingTimesteps(_ count: Int) -> [Int] {
        let n = max(1, min(count, steps))
        return (0..<n).map { i in Int((Double(steps - 1) * Double(n - 1 - i) / Double(max(n - 1, 1))).rounded()) }
    }
}

/// Sinusoidal timestep embedding (Transformer / DDPM): [N] -> [N, dim].
public func timestepEmbedding(_ t: [Int], dim: Int) -> Tensor {
    let half = dim / 2
    var out = [Float](repeating: 0, count: t.count * dim)
    for (i, ti) in t.enumerated() {
        for j in 0..<half {
            let f = Double(ti) * exp(-log(10000.0) * Double(j) / Double(max(half - 1, 1)))
            out[i * dim + j] = Float(sin(f))
            out[i * dim + half + j] = Float(cos(f))
        }
    }
    return Tensor(out, shape: [t.count, dim])
}

/// GroupNorm -> SiLU -> Conv3x3, twice, with the time embedding added in between; 1x1 skip if channels change.
final class DiffusionResBlock: Module {
    let norm1: GroupNorm, conv1: Conv2d, time: Linear, norm2: GroupNorm, conv2: Conv2d, skip: Module
    init(_ i: Int, _ o: Int, timeDim: Int) {
        norm1 = GroupNorm(groups: min(8, i), channels: i)
        conv1 = Conv2d(inputChannels: i, outputChannels: o, kernelSize: 3, padding: 1)
        time = Linear(inputFeatures: timeDim, outputFeatures: o)
        norm2 = GroupNorm(groups: min(8, o), channels: o)
        conv2 = Conv2d(inputChannels: o, outputChannels: o, kernelSize: 3, padding: 1)
        skip = i == o ? Identity() : Conv2d(inputChannels: i, outputChannels: o, kernelSize: 1)
        super.init()
        register("norm1", norm1); register("conv1", conv1); register("time", time)
        register("norm2", norm2); register("conv2", conv2); register("skip", skip)
    }
    func forward(_ x: Tensor, _ emb: Tensor) -> Tensor {
        var h = conv1(norm1(x).silu())
        h = h + time(emb.silu()).reshaped([emb.size(0), -1, 1, 1])
        h = conv2(norm2(h).silu())
        return h + skip(x)
    }
}

/// A small epsilon-predicting U-Net for 32/64 px DDPMs: `width` x `multipliers` channels per level, one
/// residual block per level down and up, stride-2 conv down, nearest-neighbour up. Call `predict(x, t:)`.
public final class DiffusionUNet: Module {
    public let width: Int, timeDim: Int
    let stem: Conv2d, timeMLP: Sequential
    let downBlocks: [DiffusionResBlock], downsamples: [Conv2d]
    let middle: DiffusionResBlock
    let upBlocks: [DiffusionResBlock], upConvs: [Conv2d]
    let outNorm: GroupNorm, outConv: Conv2d

    public init(width: Int = 32, multipliers: [Int] = [1, 2, 2]) {
        self.width = width
        timeDim = width * 4
        stem = Conv2d(inputChannels: 3, outputChannels: width, kernelSize: 3, padding: 1)
        timeMLP = Sequential(Linear(inputFeatures: width, outputFeatures: timeDim), SiLU(),
                             Linear(inputFeatures: timeDim, outputFeatures: timeDim))
        var downB: [DiffusionResBlock] = [], downS: [Conv2d] = []
        var c = width
        var skips: [Int] = []
        for (i, m) in multipliers.enumerated() {
            downB.append(DiffusionResBlock(c, width * m, timeDim: width * 4))
            c = width * m
            skips.append(c)
            if i < multipliers.count - 1 { downS.append(Conv2d(inputChannels: c, outputChannels: c, kernelSize: 3, stride: 2, padding: 1)) }
        }
        middle = DiffusionResBlock(c, c, timeDim: width * 4)
        var upB: [DiffusionResBlock] = [], upC: [Conv2d] = []
        for (i, m) in multipliers.enumerated().reversed() {
            let s = skips[i]
            upB.append(DiffusionResBlock(c + s, width * m, timeDim: width * 4))
            c = width * m
            if i > 0 { upC.append(Conv2d(inputChannels: c, outputChannels: c, kernelSize: 3, padding: 1)) }
        }
        downBlocks = downB; downsamples = downS; upBlocks = upB; upConvs = upC
        outNorm = GroupNorm(groups: min(8, c), channels: c)
        outConv = Conv2d(inputChannels: c, outputChannels: 3, kernelSize: 3, padding: 1)
        super.init()
        register("stem", stem); register("time_mlp", timeMLP)
        for (i, b) in downB.enumerated() { register("down\(i)", b) }
        for (i, d) in downS.enumerated() { register("downsample\(i)", d) }
        register("middle", middle)
        for (i, b) in upB.enumerated() { register("up\(i)", b) }
        for (i, u) in upC.enumerated() { register("upconv\(i)", u) }
        register("out_norm", outNorm); register("out_conv", outConv)
    }

    /// Predicted noise for noisy images `x` [N, 3, S, S] at timesteps `t` (one per image).
    public func predict(_ x: Tensor, t: [Int]) -> Tensor {
        precondition(t.count == x.size(0), "DiffusionUNet: one timestep per image")
        let emb = timeMLP(timestepEmbedding(t, dim: width))
        var h = stem(x)
        var skips: [Tensor] = []
        for (i, b) in downBlocks.enumerated() {
            h = b.forward(h, emb)
            skips.append(h)
            if i < downsamples.count { h = downsamples[i](h) }
        }
        h = middle.forward(h, emb)
        for (j, b) in upBlocks.enumerated() {
            h = b.forward(concatenated([h, skips.removeLast()], axis: 1), emb)
            if j < upConvs.count { h = upConvs[j](interpolate(h, scale: 2, mode: .nearest)) }
        }
        return outConv(outNorm(h).silu())
    }
    /// `callAsFunction` predicts at timestep 0 for every image (use `predict(_:t:)`).
    public override func callAsFunction(_ x: Tensor) -> Tensor { predict(x, t: Array(repeating: 0, count: x.size(0))) }
}

// MARK: Registry

/// The generator families of `aidetect synth`.
public enum GeneratorFamily: String, Sendable, Codable, CaseIterable {
    case dcgan, wgan_gp, sngan, ddpm
    public var summary: String {
        switch self {
        case .dcgan: return "DCGAN: transposed-conv generator, batch-norm discriminator, non-saturating BCE (Radford et al. 2016)"
        case .wgan_gp: return "WGAN-GP: DCGAN generator, critic without batch norm, Wasserstein loss + gradient penalty 10, 5 critic steps (Gulrajani et al. 2017)"
        case .sngan: return "SNGAN: spectrally normalised discriminator, hinge loss (Miyato et al. 2018)"
        case .ddpm: return "DDPM: epsilon-predicting U-Net, linear or cosine betas, DDIM sampling (Ho et al. 2020; Song et al. 2021)"
        }
    }
}

/// A generator family's networks: a generator and a discriminator/critic, or a denoiser.
public struct GenerativeModel {
    public let family: GeneratorFamily
    public let generator: Module
    public let discriminator: Module?
    public let latent: Int
    public let imageSize: Int

    /// Fresh networks; `width` is the base channel count (DCGAN ngf/ndf, U-Net base width).
    public static func make(_ family: GeneratorFamily, imageSize: Int = 32, width: Int? = nil, latent: Int = 128) -> GenerativeModel {
        switch family {
        case .dcgan, .wgan_gp, .sngan:
            let w = width ?? 64
            let norm: DiscriminatorNorm = family == .dcgan ? .batch : family == .wgan_gp ? .none : .spectral
            return GenerativeModel(family: family, generator: DCGANGenerator(latent: latent, width: w, imageSize: imageSize),
                                   discriminator: DCGANDiscriminator(width: w, imageSize: imageSize, norm: norm),
                                   latent: latent, imageSize: imageSize)
        case .ddpm:
            let w = width ?? 32
            return GenerativeModel(family: family, generator: DiffusionUNet(width: w, multipliers: imageSize == 32 ? [1, 2, 2] : [1, 2, 2, 2]),
                                   discriminator: nil, latent: 0, imageSize: imageSize)
        }
    }
}
