package forge.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;

/**
 * A tensor copied off the device: safetensors dtype name, shape and little-endian bytes. Checkpoints are built from
 * these so that writing to storage never touches the engine; the copy in {@link #of} is the only stall.
 */
public record HostTensor(String dtype, long[] shape, byte[] data) implements TensorSource {

    private static final Map<String, Integer> ELEMENT_BYTES = Map.of(
            "F64", 8, "F32", 4, "F16", 2, "BF16", 2,
            "I64", 8, "I32", 4, "I16", 2, "I8", 1, "U8", 1, "BOOL", 1);

    public HostTensor {
        Integer size = ELEMENT_BYTES.get(dtype);
        if (size == null) {
            throw new IllegalArgumentException("unsupported dtype " + dtype);
        }
        shape = shape.clone();
        long expected = numel(shape) * size;
        if (expected != data.length) {
            throw new IllegalArgumentException("dtype " + dtype + " shape " + Arrays.toString(shape) + " needs "
                    + expected + " bytes, got " + data.length);
        }
    }

    @Override
    public long byteSize() {
        return data.length;
    }

    @Override
    public void writeTo(java.io.OutputStream out) throws java.io.IOException {
        out.write(data);
    }

    /** Bytes per element of a safetensors dtype, or -1 when this code does not know it. */
    public static int elementBytes(String dtype) {
        return ELEMENT_BYTES.getOrDefault(dtype, -1);
    }

    /** Whether a safetensors dtype is a floating-point one {@link #asF32} converts. */
    public static boolean isFloat(String dtype) {
        return dtype.equals("F32") || dtype.equals("BF16") || dtype.equals("F16") || dtype.equals("F64");
    }

    /**
     * This tensor in float32: itself when it already is; bfloat16 and float16 widen exactly, float64 rounds to
     * nearest. Checkpoints on the Hub are mostly bfloat16; training here runs in float32.
     */
    public HostTensor asF32() {
        if (dtype.equals("F32")) {
            return this;
        }
        int n = (int) numel(shape);
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer out = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case "BF16" -> {
                for (int i = 0; i < n; i++) {
                    out.putInt((in.getShort() & 0xFFFF) << 16);   // bfloat16 is float32's upper half
                }
            }
            case "F16" -> {
                for (int i = 0; i < n; i++) {
                    out.putFloat(halfToFloat(in.getShort()));
                }
            }
            case "F64" -> {
                for (int i = 0; i < n; i++) {
                    out.putFloat((float) in.getDouble());
                }
            }
            default -> throw new IllegalStateException("cannot convert dtype " + dtype + " to F32");
        }
        return new HostTensor("F32", shape, out.array());
    }

    /** IEEE 754 binary16 to float32, exactly (subnormals, infinities and NaN included). */
    static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));          // inf, NaN
        }
        if (exp == 0) {
            float v = mant * 0x1p-24f;                                             // zero and subnormals
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));    // rebias 15 → 127
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public static HostTensor of(NDArray a) {
        String dtype = switch (a.getDataType()) {
            case FLOAT32 -> "F32";
            case INT64 -> "I64";
            case INT32 -> "I32";
            default -> throw new IllegalArgumentException("cannot snapshot dtype " + a.getDataType());
        };
        // DJL hands out native-order bytes; safetensors is little-endian, which is native on every host we run on.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("big-endian hosts are not supported");
        }
        return new HostTensor(dtype, a.getShape().getShape(), a.toByteArray());
    }

    public static HostTensor f32(long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new HostTensor("F32", shape, b.array());
    }

    /** A new engine array with these values, in memory libtorch owns (see {@link EngineArrays}). */
    public NDArray toNDArray(NDManager m) {
        try (NDArray staged = stage(m)) {
            return staged.duplicate();
        }
    }

    /** An engine array that borrows a Java direct buffer; only for immediate, short-lived use. */
    NDArray stage(NDManager m) {
        DataType type = switch (dtype) {
            case "F32" -> DataType.FLOAT32;
            case "I64" -> DataType.INT64;
            case "I32" -> DataType.INT32;
            default -> throw new IllegalArgumentException("cannot load dtype " + dtype + " into the engine");
        };
        ByteBuffer b = ByteBuffer.allocateDirect(data.length).order(ByteOrder.nativeOrder());
        b.put(data).rewind();
        return m.create(b, new Shape(shape), type);
    }

    public float[] toFloatArray() {
        if (!dtype.equals("F32")) {
            throw new IllegalStateException("not F32: " + dtype);
        }
        float[] out = new float[data.length / 4];
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostTensor t && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape)
                && Arrays.equals(data, t.data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * dtype.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "HostTensor[" + dtype + " " + Arrays.toString(shape) + "]";
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }
}
