package forge.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteOrder;

/**
 * A tensor a checkpoint writer can stream without holding it: its dtype, shape and byte length are known up front
 * (so a safetensors header can be written first), its bytes are produced into a stream when the writer reaches it.
 * {@link HostTensor} is one; {@link #engine} copies an engine array to the host a chunk at a time.
 */
public interface TensorSource {
    /** At most this many bytes of an engine array are on the host at once while it is streamed (see {@link #engine}). */
    int ENGINE_CHUNK_BYTES = 8 * 1024 * 1024;

    String dtype();

    long[] shape();

    /** numel × element size: what the tensor occupies in a safetensors file. */
    default long byteSize() {
        return HostTensor.numel(shape()) * HostTensor.elementBytes(dtype());
    }

    /** Writes exactly {@link #byteSize} little-endian bytes. */
    void writeTo(OutputStream out) throws IOException;

    /**
     * An engine array streamed {@link #ENGINE_CHUNK_BYTES} at a time (a flat slice copied per chunk), so a 1 GiB
     * embedding never needs a 1 GiB Java array. The array is read when streamed: the caller must not change it
     * until the write that uses it returned.
     */
    static TensorSource engine(NDArray a) {
        String dtype = switch (a.getDataType()) {
            case FLOAT32 -> "F32";
            case INT64 -> "I64";
            case INT32 -> "I32";
            default -> throw new IllegalArgumentException("cannot stream dtype " + a.getDataType());
        };
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("big-endian hosts are not supported");
        }
        long[] shape = a.getShape().getShape();
        int elementBytes = HostTensor.elementBytes(dtype);
        return new TensorSource() {
            @Override
            public String dtype() {
                return dtype;
            }

            @Override
            public long[] shape() {
                return shape.clone();
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                long n = HostTensor.numel(shape);
                long perChunk = Math.max(1, ENGINE_CHUNK_BYTES / elementBytes);
                if (n <= perChunk) {
                    out.write(a.toByteArray());
                    return;
                }
                try (NDArray flat = a.reshape(-1)) {
                    for (long start = 0; start < n; start += perChunk) {
                        long end = Math.min(n, start + perChunk);
                        try (NDArray chunk = flat.get(new NDIndex(start + ":" + end))) {
                            out.write(chunk.toByteArray());
                        }
                    }
                }
            }
        };
    }
}
