import CTorch

extension Tensor {
    /// Whether autograd records operations on this tensor.
    public var requiresGrad: Bool {
        get { withExtendedLifetime(self) { ctorch_requires_grad(handle) != 0 } }
        set { check(withExtendedLifetime(self) { ctorch_set_requires_grad(handle, newValue ? 1 : 0) }) }
    }
    /// Marks this (leaf) tensor as requiring gradients and returns it.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }
    /// Back-propagates from this tensor (a scalar unless `gradient` is given).
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false) {
        check(withExtendedLifetime((self, gradient)) { ctorch_backward(handle, gradient?.handle, retainGraph ? 1 : 0) })
    }
    /// The accumulated gradient, or nil if none.
    public var grad: Tensor? {
        get {
            let g = withExtendedLifetime(self) { Tensor.make { ctorch_grad($0, handle) } }
            return g.isDefined ? g : nil
        }
        set { check(withExtendedLifetime((self, newValue)) { ctorch_set_grad(handle, newValue?.handle) }) }
    }
    /// Guided backpropagation: from now on, the gradient flowing into this (non-leaf) tensor is clamped at 0.
    public func registerReluGuideHook() {
        check(withExtendedLifetime(self) { ctorch_register_relu_guide_hook(handle) })
    }
}

/// Runs `body` with guided backpropagation (Springenberg et al. 2015) on this thread: every ReLU/ReLU6 applied
/// inside it to a tensor that requires grad passes back only positive gradients, `(x > 0) * max(grad, 0)`.
/// The graph remembers the rule, so call `backward`/`gradients` inside `body` or later; nesting is allowed.
public func withGuidedReLU<R>(_ body: () throws -> R) rethrows -> R {
    let was = ctorch_set_guided_relu(1)
    defer { _ = ctorch_set_guided_relu(was) }
    return try body()
}

/// Gradients of `outputs` (weighted by `gradOutputs`) with respect to `inputs`, without touching `.grad`.
public func gradients(of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                      retainGraph: Bool = false, createGraph: Bool = false) -> [Tensor] {
    precondition(gradOutputs == nil || gradOutputs!.count == outputs.count, "gradients: gradOutputs count differs")
    return withExtendedLifetime((outputs, inputs, gradOutputs)) {
        let o: [ctorch_tensor?] = outputs.map { $0.handle }
        let i: [ctorch_tensor?] = inputs.map { $0.handle }
        let g: [ctorch_tensor?]? = gradOutputs?.map { $0.handle }
        var out = [ctorch_tensor?](repeating: nil, count: inputs.count)
        let rc: Int32
        if let g {
            rc = ctorch_autograd_grad(&out, o, g, Int64(o.count), i, Int64(i.count), retainGraph ? 1 : 0, createGraph ? 1 : 0)
        } else {
            rc = ctorch_autograd_grad(&out, o, nil, Int64(o.count), i, Int64(i.count), retainGraph ? 1 : 0, createGraph ? 1 : 0)
        }
        check(rc)
        return out.map { Tensor(handle: $0!) }
    }
}
