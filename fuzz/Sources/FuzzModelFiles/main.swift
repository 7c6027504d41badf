import Foundation
import FuzzSupport
import Models
import Torch

/// libFuzzer entry: every model-file reader on the same bytes (safetensors, PyTorch checkpoints in both the zip and the
/// legacy pickle container, ONNX). Each must return tensors or throw a `CheckpointError`, never trap, and never
/// allocate more than the file's own bytes justify (libFuzzer's -malloc_limit_mb catches that).
func fuzzModelFiles(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    func check(_ body: () throws -> [String: Tensor]) {
        do {
            for (_, t) in try body() where t.count > 0 { _ = t.contiguous() }
        } catch is CheckpointError {
        } catch {
            fatalError("a model-file reader threw \(type(of: error)) instead of CheckpointError: \(error)")
        }
    }
    check { try Safetensors.decode(Data(bytes), path: "fuzz.safetensors").tensors }
    check { try TorchCheckpoint.decode(bytes, path: "fuzz.pt") }
    check { try ONNXGraph(bytes: bytes, path: "fuzz.onnx").initializers }
    return 0
}

runFuzzer(fuzzModelFiles)
