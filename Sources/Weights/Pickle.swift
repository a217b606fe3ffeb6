// A restricted unpickler for PyTorch checkpoints: it never executes anything.
//
// Reference: CPython Lib/pickle.py and Lib/pickletools.py (opcode table, protocols 0-5), and
// torch/serialization.py (`_save`, `_legacy_save`, `_load`, `_legacy_load`) for what torch.save
// writes. The pickle virtual machine is interpreted here with a closed world of values:
// None, bools, integers, floats, strings, bytes, tuples, lists, dicts, storages and tensors.
// The only globals a pickle may name are
//   collections.OrderedDict                      (called with no arguments → an empty dict)
//   torch._utils._rebuild_tensor_v2              (→ a tensor view of a storage)
//   torch._utils._rebuild_parameter              (→ the tensor it wraps)
//   torch.<Type>Storage, torch.UntypedStorage    (only as the dtype inside a persistent id)
// every other GLOBAL / STACK_GLOBAL is an error naming it, raised before anything else happens.
//
// Containers live in an arena and values refer to them by index, so a malicious pickle cannot
// build reference cycles that leak, nor nesting so deep that releasing it overflows the stack.
// Nesting depth, stack, memo and container counts are capped, and every length is checked
// against the bytes that remain before anything is allocated.

import Foundation

/// A value on the pickle stack. Containers are indices into `Unpickler.containers`.
enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer too large for Int64: little-endian two's complement bytes (LONG1 / LONG4).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(Int)
    case list(Int)
    case dict(Int)
    case global(PickleGlobal)
    /// Index into `Unpickler.storages`.
    case storage(Int)
    /// Index into `Unpickler.tensors`.
    case tensor(Int)
}

enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildParameter
    case storageType(WeightDType)
}

enum PickleContainer {
    case tuple([PickleValue])
    case list([PickleValue])
    /// Keys kept in insertion order; a repeated key keeps its last value when read.
    case dict([(key: PickleValue, value: PickleValue)])
}

/// A storage named by a persistent id: ('storage', type, key, location, numel[, view]).
struct StorageReference: Equatable {
    var key: String
    var dtype: WeightDType
    /// Elements in the root storage.
    var elementCount: Int
    /// Legacy view metadata: the view's offset and size in elements within the root storage.
    var viewOffset: Int = 0
    var viewCount: Int? = nil
}

/// A tensor as `_rebuild_tensor_v2` describes it, over a storage.
struct TensorReference: Equatable {
    var storage: Int
    var storageOffset: Int
    var shape: [Int]
    var stride: [Int]
}

/// Safety limits against malicious input.
struct PickleLimits {
    var maximumDepth = 100
    var maximumStack = 1 << 22
    var maximumMemo = 1 << 22
    var maximumContainers = 1 << 22
    var maximumDimensions = 64
}

struct Unpickler {
    let data: Data
    let file: String
    var position: Int
    let limits: PickleLimits

    private(set) var containers: [PickleContainer] = []
    /// Nesting depth of each container as built (1 for an empty one).
    private var depths: [Int] = []
    private(set) var storages: [StorageReference] = []
    private var storageIndexByKey: [String: Int] = [:]
    private(set) var tensors: [TensorReference] = []

    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var opcodeOffset = 0

    init(data: Data, file: String, position: Int = 0, limits: PickleLimits = PickleLimits()) {
        self.data = data
        self.file = file
        self.position = position
        self.limits = limits
    }

    // MARK: Reading bytes

    private func fail(_ problem: String) -> WeightsError {
        .invalidPickle(file: file, offset: opcodeOffset, problem: problem)
    }

    private var remaining: Int { data.count - position }

    private mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw fail("unexpected end of file") }
        defer { position += 1 }
        return data[data.startIndex + position]
    }

    private mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw fail("a length of \(count) bytes runs past the end of the file (\(remaining) bytes left)")
        }
        let start = data.startIndex + position
        position += count
        return [UInt8](data[start..<(start + count)])
    }

    private mutating func unsigned(_ byteCount: Int) throws -> UInt64 {
        guard byteCount <= remaining else { throw fail("unexpected end of file") }
        var value: UInt64 = 0
        let start = data.startIndex + position
        for index in 0..<byteCount { value |= UInt64(data[start + index]) << (8 * UInt64(index)) }
        position += byteCount
        return value
    }

    /// A length field, checked against the bytes that remain.
    private mutating func length(_ byteCount: Int) throws -> Int {
        let value = try unsigned(byteCount)
        guard value <= UInt64(remaining) else {
            throw fail("a length of \(value) bytes runs past the end of the file (\(remaining) bytes left)")
        }
        return Int(value)
    }

    private mutating func line() throws -> String {
        var collected: [UInt8] = []
        while true {
            let next = try byte()
            if next == 0x0A { break }
            collected.append(next)
            if collected.count > 4096 { throw fail("text line longer than 4096 bytes") }
        }
        if collected.last == 0x0D { collected.removeLast() }
        return String(decoding: collected, as: UTF8.self)
    }

    private mutating func utf8(_ count: Int) throws -> String {
        let raw = try bytes(count)
        guard let text = String(bytes: raw, encoding: .utf8) else { throw fail("string is not valid UTF-8") }
        return text
    }

    // MARK: Stack

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < limits.maximumStack else { throw fail("stack deeper than \(limits.maximumStack) entries") }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("stack underflow past a mark") }
        return value
    }

    private mutating func top() throws -> PickleValue {
        guard let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no mark on the stack") }
        guard mark <= stack.count else { throw fail("mark beyond the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func remember(_ index: Int, _ value: PickleValue) throws {
        guard memo[index] != nil || memo.count < limits.maximumMemo else {
            throw fail("memo larger than \(limits.maximumMemo) entries")
        }
        memo[index] = value
    }

    private func recall(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo entry \(index) read before it was written") }
        return value
    }

    // MARK: Containers

    private func nestingDepth(of value: PickleValue) -> Int {
        switch value {
        case let .tuple(index), let .list(index), let .dict(index): return depths[index]
        default: return 0
        }
    }

    private mutating func makeContainer(_ container: PickleContainer, children: [PickleValue]) throws -> Int {
        guard containers.count < limits.maximumContainers else {
            throw fail("more than \(limits.maximumContainers) containers")
        }
        let depth = 1 + (children.map { nestingDepth(of: $0) }.max() ?? 0)
        guard depth <= limits.maximumDepth else { throw fail("containers nested deeper than \(limits.maximumDepth) levels") }
        containers.append(container)
        depths.append(depth)
        return containers.count - 1
    }

    private mutating func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
        .tuple(try makeContainer(.tuple(items), children: items))
    }

    private mutating func append(_ items: [PickleValue], to target: PickleValue) throws {
        guard case let .list(index) = target, case var .list(existing) = containers[index] else {
            throw fail("APPEND to something that is not a list")
        }
        let depth = 1 + (items.map { nestingDepth(of: $0) }.max() ?? 0)
        guard depth <= limits.maximumDepth else { throw fail("containers nested deeper than \(limits.maximumDepth) levels") }
        depths[index] = max(depths[index], depth)
        containers[index] = .list([])
        existing.append(contentsOf: items)
        containers[index] = .list(existing)
    }

    private mutating func setItems(_ items: [PickleValue], in target: PickleValue) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        guard case let .dict(index) = target, case var .dict(existing) = containers[index] else {
            throw fail("SETITEM on something that is not a dict")
        }
        let depth = 1 + (items.map { nestingDepth(of: $0) }.max() ?? 0)
        guard depth <= limits.maximumDepth else { throw fail("containers nested deeper than \(limits.maximumDepth) levels") }
        depths[index] = max(depths[index], depth)
        containers[index] = .dict([])
        for pair in stride(from: 0, to: items.count, by: 2) {
            existing.append((key: items[pair], value: items[pair + 1]))
        }
        containers[index] = .dict(existing)
    }

    func tupleItems(_ value: PickleValue) -> [PickleValue]? {
        guard case let .tuple(index) = value, case let .tuple(items) = containers[index] else { return nil }
        return items
    }

    func dictEntries(_ value: PickleValue) -> [(key: PickleValue, value: PickleValue)]? {
        guard case let .dict(index) = value, case let .dict(entries) = containers[index] else { return nil }
        return entries
    }

    func listItems(_ value: PickleValue) -> [PickleValue]? {
        guard case let .list(index) = value, case let .list(items) = containers[index] else { return nil }
        return items
    }

    // MARK: Globals, calls, persistent ids

    private func resolveGlobal(module: String, name: String) throws -> PickleGlobal {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case let ("torch", storageName) where storageName.hasSuffix("Storage"):
            if let dtype = WeightDType(torchStorageName: storageName) { return .storageType(dtype) }
        default: break
        }
        throw WeightsError.disallowedGlobal(file: file, module: module, name: name)
    }

    private func integer(_ value: PickleValue, _ what: String) throws -> Int {
        switch value {
        case let .int(number): return Int(number)
        case let .bool(flag): return flag ? 1 : 0
        default: throw fail("\(what) is not an integer")
        }
    }

    private func integers(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard let items = tupleItems(value) ?? listItems(value) else { throw fail("\(what) is not a tuple") }
        guard items.count <= limits.maximumDimensions else { throw fail("\(what) has \(items.count) dimensions") }
        return try items.map { try integer($0, what) }
    }

    private mutating func call(_ callable: PickleValue, arguments: PickleValue) throws -> PickleValue {
        guard case let .global(global) = callable else { throw fail("REDUCE on something that is not an allowed global") }
        guard let items = tupleItems(arguments) else { throw fail("REDUCE arguments are not a tuple") }
        switch global {
        case .orderedDict:
            let index = try makeContainer(.dict([]), children: [])
            if let first = items.first {
                // OrderedDict(iterable of pairs)
                guard items.count == 1, let pairs = listItems(first) ?? tupleItems(first) else {
                    throw fail("OrderedDict called with unexpected arguments")
                }
                var flattened: [PickleValue] = []
                for pair in pairs {
                    guard let keyValue = tupleItems(pair) ?? listItems(pair), keyValue.count == 2 else {
                        throw fail("OrderedDict item is not a pair")
                    }
                    flattened.append(contentsOf: keyValue)
                }
                try setItems(flattened, in: .dict(index))
            }
            return .dict(index)
        case .rebuildTensor:
            // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard items.count == 6 || items.count == 7 else {
                throw fail("_rebuild_tensor_v2 called with \(items.count) arguments")
            }
            guard case let .storage(storage) = items[0] else { throw fail("_rebuild_tensor_v2 without a storage") }
            let offset = try integer(items[1], "storage offset")
            let shape = try integers(items[2], "tensor size")
            let stride = try integers(items[3], "tensor stride")
            guard shape.count == stride.count else {
                throw fail("tensor size \(shape) and stride \(stride) differ in length")
            }
            tensors.append(TensorReference(storage: storage, storageOffset: offset, shape: shape, stride: stride))
            return .tensor(tensors.count - 1)
        case .rebuildParameter:
            // _rebuild_parameter(data, requires_grad, backward_hooks)
            guard items.count == 3, case .tensor = items[0] else { throw fail("_rebuild_parameter without a tensor") }
            return items[0]
        case .storageType:
            throw fail("a storage type cannot be called")
        }
    }

    /// torch's persistent ids: ('storage', storage_type, key, location, numel[, view_metadata]).
    private mutating func persistentLoad(_ identifier: PickleValue) throws -> PickleValue {
        guard let items = tupleItems(identifier), let kind = items.first else {
            throw fail("persistent id is not a tuple")
        }
        let typeName: String
        switch kind {
        case let .string(text): typeName = text
        case let .bytes(raw): typeName = String(decoding: raw, as: UTF8.self)
        default: throw fail("persistent id has no type name")
        }
        guard typeName == "storage" else {
            throw fail("persistent id of type '\(typeName)' (only storages are supported)")
        }
        guard items.count == 5 || items.count == 6 else { throw fail("storage persistent id with \(items.count) fields") }
        guard case let .global(.storageType(dtype)) = items[1] else { throw fail("storage persistent id without a storage type") }
        let key: String
        switch items[2] {
        case let .string(text): key = text
        case let .int(number): key = String(number)
        default: throw fail("storage key is neither a string nor an integer")
        }
        let elementCount = try integer(items[4], "storage size")
        guard elementCount >= 0 else { throw fail("negative storage size \(elementCount)") }
        var reference = StorageReference(key: key, dtype: dtype, elementCount: elementCount)
        if items.count == 6, items[5] != .none {
            guard let view = tupleItems(items[5]), view.count == 3 else { throw fail("storage view metadata is not a triple") }
            reference.viewOffset = try integer(view[1], "storage view offset")
            reference.viewCount = try integer(view[2], "storage view size")
        }
        if reference.viewCount == nil, let existing = storageIndexByKey[key] {
            guard storages[existing] == reference else {
                throw fail("storage '\(key)' declared twice with different types or sizes")
            }
            return .storage(existing)
        }
        storages.append(reference)
        if reference.viewCount == nil { storageIndexByKey[key] = storages.count - 1 }
        return .storage(storages.count - 1)
    }

    // MARK: The virtual machine

    /// Runs one pickle from `position` to its STOP and returns the value it built.
    mutating func load() throws -> PickleValue {
        stack.removeAll(keepingCapacity: true)
        marks.removeAll()
        memo.removeAll()
        while true {
            opcodeOffset = position
            let opcode = try byte()
            switch opcode {
            case 0x80: // PROTO
                let version = try byte()
                guard version <= 5 else { throw fail("pickle protocol \(version) is newer than 5") }
            case 0x95: // FRAME: an 8-byte frame length, content follows inline
                _ = try unsigned(8)
            case 0x2E: // STOP
                let result = try pop()
                return result
            case 0x28: // MARK
                guard marks.count < limits.maximumStack else { throw fail("more than \(limits.maximumStack) marks") }
                marks.append(stack.count)
            case 0x30: // POP
                if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
            case 0x31: // POP_MARK
                _ = try popToMark()
            case 0x32: // DUP
                try push(try top())

            // Constants and numbers.
            case 0x4E: try push(.none) // NONE
            case 0x88: try push(.bool(true)) // NEWTRUE
            case 0x89: try push(.bool(false)) // NEWFALSE
            case 0x4B: try push(.int(Int64(try unsigned(1)))) // BININT1
            case 0x4D: try push(.int(Int64(try unsigned(2)))) // BININT2
            case 0x4A: try push(.int(Int64(Int32(truncatingIfNeeded: try unsigned(4))))) // BININT
            case 0x8A: try push(try long(try length(1))) // LONG1
            case 0x8B: try push(try long(try length(4))) // LONG4
            case 0x47: // BINFLOAT: big-endian double
                let raw = try bytes(8)
                let bits = raw.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
                try push(.float(Double(bitPattern: bits)))
            case 0x49: // INT (text): also "I00" / "I01" for bools
                let text = try line()
                if text == "00" { try push(.bool(false)) } else if text == "01" { try push(.bool(true)) } else {
                    guard let number = Int64(text) else { throw fail("INT '\(text)' is not an integer") }
                    try push(.int(number))
                }
            case 0x4C: // LONG (text)
                var text = try line()
                if text.hasSuffix("L") { text.removeLast() }
                guard let number = Int64(text) else { throw fail("LONG '\(text)' does not fit in 64 bits") }
                try push(.int(number))
            case 0x46: // FLOAT (text)
                let text = try line()
                guard let number = Double(text) else { throw fail("FLOAT '\(text)' is not a number") }
                try push(.float(number))

            // Strings and bytes.
            case 0x58: try push(.string(try utf8(try length(4)))) // BINUNICODE
            case 0x8C: try push(.string(try utf8(try length(1)))) // SHORT_BINUNICODE
            case 0x8D: try push(.string(try utf8(try length(8)))) // BINUNICODE8
            case 0x54: try push(.string(String(decoding: try bytes(try length(4)), as: UTF8.self))) // BINSTRING (py2)
            case 0x55: try push(.string(String(decoding: try bytes(try length(1)), as: UTF8.self))) // SHORT_BINSTRING
            case 0x42: try push(.bytes(try bytes(try length(4)))) // BINBYTES
            case 0x43: try push(.bytes(try bytes(try length(1)))) // SHORT_BINBYTES
            case 0x8E: try push(.bytes(try bytes(try length(8)))) // BINBYTES8

            // Containers.
            case 0x29: try push(try makeTuple([])) // EMPTY_TUPLE
            case 0x85: let a = try pop(); try push(try makeTuple([a])) // TUPLE1
            case 0x86: let b = try pop(); let a = try pop(); try push(try makeTuple([a, b])) // TUPLE2
            case 0x87: let c = try pop(); let b = try pop(); let a = try pop(); try push(try makeTuple([a, b, c])) // TUPLE3
            case 0x74: try push(try makeTuple(try popToMark())) // TUPLE
            case 0x5D: try push(.list(try makeContainer(.list([]), children: []))) // EMPTY_LIST
            case 0x6C: // LIST
                let items = try popToMark()
                let index = try makeContainer(.list([]), children: [])
                try append(items, to: .list(index))
                try push(.list(index))
            case 0x7D: try push(.dict(try makeContainer(.dict([]), children: []))) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popToMark()
                let index = try makeContainer(.dict([]), children: [])
                try setItems(items, in: .dict(index))
                try push(.dict(index))
            case 0x61: // APPEND
                let item = try pop()
                try append([item], to: try top())
            case 0x65: // APPENDS
                let items = try popToMark()
                try append(items, to: try top())
            case 0x73: // SETITEM
                let value = try pop()
                let key = try pop()
                try setItems([key, value], in: try top())
            case 0x75: // SETITEMS
                let items = try popToMark()
                try setItems(items, in: try top())

            // Memo.
            case 0x71: try remember(Int(try unsigned(1)), try top()) // BINPUT
            case 0x72: try remember(Int(try unsigned(4)), try top()) // LONG_BINPUT
            case 0x94: try remember(memo.count, try top()) // MEMOIZE
            case 0x70: // PUT (text)
                let text = try line()
                guard let index = Int(text) else { throw fail("PUT '\(text)' is not an index") }
                try remember(index, try top())
            case 0x68: try push(try recall(Int(try unsigned(1)))) // BINGET
            case 0x6A: try push(try recall(Int(try unsigned(4)))) // LONG_BINGET
            case 0x67: // GET (text)
                let text = try line()
                guard let index = Int(text) else { throw fail("GET '\(text)' is not an index") }
                try push(try recall(index))

            // Globals and calls: only the allow-list, checked by name before anything else.
            case 0x63: // GLOBAL
                let module = try line()
                let name = try line()
                try push(.global(try resolveGlobal(module: module, name: name)))
            case 0x93: // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                guard case let .string(moduleName) = module, case let .string(globalName) = name else {
                    throw fail("STACK_GLOBAL without two strings")
                }
                try push(.global(try resolveGlobal(module: moduleName, name: globalName)))
            case 0x52: // REDUCE
                let arguments = try pop()
                let callable = try pop()
                try push(try call(callable, arguments: arguments))
            case 0x81: // NEWOBJ: cls.__new__(cls, *args); only OrderedDict qualifies
                let arguments = try pop()
                let cls = try pop()
                guard cls == .global(.orderedDict) else { throw fail("NEWOBJ on something other than OrderedDict") }
                try push(try call(cls, arguments: arguments))
            case 0x62: // BUILD: state for the object below it. Dicts (a state_dict's _metadata) and
                       // tensors (hooks, requires_grad) carry nothing we need, so the state is dropped.
                _ = try pop()
                switch try top() {
                case .dict, .tensor: break
                default: throw fail("BUILD on an object that is not a dict or tensor")
                }
            case 0x51: // BINPERSID
                let identifier = try pop()
                try push(try persistentLoad(identifier))

            case 0x69, 0x6F: // INST, OBJ: arbitrary instantiation
                throw fail("INST/OBJ opcodes instantiate arbitrary classes and are refused")
            case 0x92: throw fail("NEWOBJ_EX is refused")
            case 0x96, 0x97, 0x98: throw fail("out-of-band buffers (protocol 5) are refused")
            case 0x50: throw fail("text persistent ids (PERSID) are refused")
            case 0x82, 0x83, 0x84: throw fail("copyreg extension registry opcodes are refused")
            default:
                throw fail(String(format: "unsupported pickle opcode 0x%02X", opcode))
            }
        }
    }

    /// LONG1 / LONG4 payload: little-endian two's complement.
    private mutating func long(_ count: Int) throws -> PickleValue {
        let raw = try bytes(count)
        if raw.isEmpty { return .int(0) }
        if raw.count <= 8 {
            var value: UInt64 = 0
            for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
            if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 {
                value |= ~UInt64(0) << (8 * UInt64(raw.count)) // sign-extend
            }
            return .int(Int64(bitPattern: value))
        }
        return .bigInt(raw)
    }
}
