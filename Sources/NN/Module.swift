import Torch

/// The base class of layers and models, like `torch.nn.Module`.
///
/// Children, parameters and buffers are registered by name in `init`, so `stateDict()` keys match
/// PyTorch's (`layer1.0.conv1.weight`) and checkpoints map one-to-one. Subclasses override
/// `callAsFunction(_:)`. `isTraining` is read by Dropout and BatchNorm.
open class Module {
    public private(set) var parameterSlots: [(name: String, tensor: Tensor)] = []
    public private(set) var bufferSlots: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    public private(set) var isTraining = true
    /// Feature hooks by name (see `hooked(_:_:)`); a hook may observe or replace the tensor.
    public var featureHooks: [String: (Tensor) -> Tensor] = [:]

    public init() {}

    /// The forward pass. Subclasses override.
    open func callAsFunction(_ x: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) does not implement callAsFunction(_:)")
    }

    // MARK: Registration

    @discardableResult
    public func register<M: Module>(_ name: String, _ module: M) -> M {
        precondition(!name.isEmpty && !name.contains("."), "Module.register: bad name '\(name)'")
        if let i = children.firstIndex(where: { $0.name == name }) { children[i].module = module } else { children.append((name, module)) }
        return module
    }
    /// Registers a trainable tensor (requiresGrad is set).
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        if let i = parameterSlots.firstIndex(where: { $0.name == name }) { parameterSlots[i].tensor = tensor } else { parameterSlots.append((name, tensor)) }
        return tensor
    }
    /// Registers persistent non-trainable state (running statistics).
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        if let i = bufferSlots.firstIndex(where: { $0.name == name }) { bufferSlots[i].tensor = tensor } else { bufferSlots.append((name, tensor)) }
        return tensor
    }

    // MARK: Traversal

    /// Every (path, module) pair below and including this one, depth first ("" is self).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (n, c) in children { out += c.namedModules(prefix: prefix.isEmpty ? n : "\(prefix).\(n)") }
        return out
    }
    public func namedParameters() -> [(String, Tensor)] {
        namedModules().flatMap { path, m in m.parameterSlots.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.tensor) } }
    }
    public func namedBuffers() -> [(String, Tensor)] {
        namedModules().flatMap { path, m in m.bufferSlots.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.tensor) } }
    }
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }
    public func trainableParameters() -> [Tensor] { parameters().filter { $0.requiresGrad } }
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }
    /// The child at a dotted path ("layer4.1"), or nil.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var m: Module = self
        for part in path.split(separator: ".") {
            guard let c = m.children.first(where: { $0.name == part }) else { return nil }
            m = c.module
        }
        return m
    }

    // MARK: Modes

    /// Sets training mode on this module and every descendant.
    public func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }
    public func eval() { train(false) }
    /// Turns gradient tracking of every parameter on or off (freezing for transfer learning).
    public func setRequiresGrad(_ on: Bool) {
        for p in parameters() { p.requiresGrad = on }
    }
    /// Clears accumulated gradients.
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }
    /// Moves parameters and buffers to `device` (and optionally `dtype` for floating tensors) in place.
    public func to(device: Device, dtype: DType? = nil) {
        for (_, m) in namedModules() {
            for i in m.parameterSlots.indices {
                let t = m.parameterSlots[i].tensor
                let moved = t.to(dtype ?? t.dtype, device: device).detached()
                moved.requiresGrad = t.requiresGrad
                m.parameterSlots[i].tensor = moved
            }
            for i in m.bufferSlots.indices {
                let t = m.bufferSlots[i].tensor
                m.bufferSlots[i].tensor = t.to(t.dtype.isFloatingPoint ? (dtype ?? t.dtype) : t.dtype, device: device)
            }
            m.didMove()
        }
    }
    /// The device of the first parameter (or buffer); the CPU for a module without tensors.
    public var device: Device {
        for (_, m) in namedModules() {
            if let t = m.parameterSlots.first?.tensor ?? m.bufferSlots.first?.tensor { return t.device }
        }
        return .cpu
    }
    /// Called after `to(device:)` so subclasses holding tensor references can refresh them.
    open func didMove() {}

    /// The current value of a parameter registered on this module.
    public func parameter(_ name: String) -> Tensor {
        guard let t = parameterSlots.first(where: { $0.name == name })?.tensor else { preconditionFailure("\(type(of: self)) has no parameter '\(name)'") }
        return t
    }
    public func optionalParameter(_ name: String) -> Tensor? { parameterSlots.first(where: { $0.name == name })?.tensor }
    public func buffer(_ name: String) -> Tensor {
        guard let t = bufferSlots.first(where: { $0.name == name })?.tensor else { preconditionFailure("\(type(of: self)) has no buffer '\(name)'") }
        return t
    }

    // MARK: Feature hooks

    /// Passes `x` through the hook registered under `name` (models call this at named stages).
    public func hooked(_ name: String, _ x: Tensor) -> Tensor {
        if let h = featureHooks[name] { return h(x) }
        return x
    }
    /// Names this model offers to `featureHooks` (last conv stage, every transformer block, ...).
    open var featureNames: [String] { [] }
    /// The feature an explanation should use by default, when it is not the last of `featureNames`: a
    /// transformer whose head reads only the class token gets no gradient on the last block's patch tokens, so
    /// it names the block before.
    open var explanationFeature: String? { nil }

    /// Installs (or with nil removes) a hook on the named feature of this model or of a wrapped child
    /// ("encoder.resblocks.3" reaches the child at "encoder"). Returns false if no module offers the name.
    @discardableResult
    public func setFeatureHook(_ name: String, _ hook: ((Tensor) -> Tensor)?) -> Bool {
        for (path, m) in namedModules() {
            for n in m.featureNames where (path.isEmpty ? n : "\(path).\(n)") == name {
                m.featureHooks[n] = hook
                return true
            }
        }
        return false
    }
}
