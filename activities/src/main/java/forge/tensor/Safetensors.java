package forge.tensor;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header mapping each tensor name to dtype, shape and data_offsets (relative to the end of the header), an
 * optional string-to-string "__metadata__", then the raw little-endian tensor bytes.
 *
 * <p>Tensors and metadata are written sorted by name, and the header is padded with spaces to 8 bytes as the
 * reference writer does, so the same content always gives the same bytes whatever map it came in.
 */
public final class Safetensors {
    private static final String METADATA = "__metadata__";
    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    /** The reference implementation refuses headers over 100 MB; so do we, before allocating anything. */
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private Safetensors() {
    }

    public static byte[] write(Map<String, HostTensor> tensors, Map<String, String> metadata) {
        byte[] header = header(tensors, metadata);
        long total = fileSize(tensors, header);
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("safetensors payload of " + total + " bytes does not fit in one array;"
                    + " stream it with write(OutputStream, ...)");
        }
        ByteBuffer out = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        out.put(header);
        for (HostTensor t : new TreeMap<>(tensors).values()) {
            out.put(t.data());
        }
        return out.array();
    }

    /**
     * Streams the file: the header (computed from dtypes and shapes alone), then each tensor's bytes in name order as
     * its source produces them. The same content gives the same bytes as {@link #write(Map, Map)}, at any size.
     */
    public static void write(OutputStream out, Map<String, ? extends TensorSource> tensors,
                             Map<String, String> metadata) throws IOException {
        out.write(header(tensors, metadata));
        for (TensorSource t : new TreeMap<>(tensors).values()) {
            t.writeTo(out);
        }
    }

    /** The size of the file {@link #write} produces, from dtypes and shapes alone. */
    public static long fileSize(Map<String, ? extends TensorSource> tensors, Map<String, String> metadata) {
        return fileSize(tensors, header(tensors, metadata));
    }

    private static long fileSize(Map<String, ? extends TensorSource> tensors, byte[] header) {
        long total = header.length;
        for (TensorSource t : tensors.values()) {
            total += t.byteSize();
        }
        return total;
    }

    /**
     * The 8-byte little-endian length and the JSON header padded with spaces to a multiple of 8, tensors and
     * metadata sorted by name, data_offsets contiguous from 0.
     */
    public static byte[] header(Map<String, ? extends TensorSource> tensors, Map<String, String> metadata) {
        TreeMap<String, TensorSource> sorted = new TreeMap<>(tensors);
        if (sorted.containsKey(METADATA)) {
            throw new IllegalArgumentException(METADATA + " is reserved and cannot name a tensor");
        }
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append(quote(METADATA)).append(":{");
            String sep = "";
            for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                h.append(sep).append(quote(e.getKey())).append(':').append(quote(e.getValue()));
                sep = ",";
            }
            h.append('}');
        }
        long offset = 0;
        for (Map.Entry<String, TensorSource> e : sorted.entrySet()) {
            TensorSource t = e.getValue();
            if (h.length() > 1) {
                h.append(',');
            }
            h.append(quote(e.getKey())).append(":{\"dtype\":").append(quote(t.dtype())).append(",\"shape\":[");
            long[] shape = t.shape();
            for (int i = 0; i < shape.length; i++) {
                h.append(i == 0 ? "" : ",").append(shape[i]);
            }
            long end = offset + t.byteSize();
            h.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        h.append('}');
        byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.array();
    }

    /** Receives a streamed file's tensors one at a time, in file order. */
    @FunctionalInterface
    public interface TensorSink {
        void accept(String name, HostTensor tensor) throws IOException;
    }

    /**
     * Reads a file from a stream, handing each tensor to {@code sink} as soon as its bytes arrived, so at most one
     * tensor is on the heap; every rule {@link #read(byte[])} checks is checked, and the stream must end exactly
     * where the last tensor does.
     *
     * @param where the file as errors name it
     * @return the "__metadata__" map
     */
    public static Map<String, String> read(InputStream in, String where, TensorSink sink) throws IOException {
        try {
            byte[] len = in.readNBytes(8);
            if (len.length < 8) {
                throw malformed("file is " + len.length + " bytes, shorter than the 8-byte header length");
            }
            long headerLen = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER) {
                throw malformed("header length " + headerLen + " is out of range");
            }
            byte[] header = in.readNBytes((int) headerLen);
            if (header.length < headerLen) {
                throw malformed("file ends inside its " + headerLen + "-byte header");
            }
            Header h = parseHeader(new String(header, StandardCharsets.UTF_8));
            long expectedBegin = 0;
            for (Entry e : h.entries) {
                checkEntry(e, expectedBegin);
                long size = e.end - e.begin;
                if (size > Integer.MAX_VALUE - 8) {
                    throw malformed("tensor " + e.name + " has " + size + " bytes; tensors over 2 GiB cannot be"
                            + " loaded into one host array");
                }
                byte[] data = in.readNBytes((int) size);
                if (data.length < size) {
                    throw malformed("file ends inside tensor " + e.name + " (" + data.length + " of " + size
                            + " bytes)");
                }
                sink.accept(e.name, new HostTensor(e.dtype, e.shape, data));
                expectedBegin = e.end;
            }
            if (in.read() >= 0) {
                throw malformed("bytes follow the last tensor, which ends at " + expectedBegin);
            }
            return h.metadata;
        } catch (BadInputException e) {
            throw new BadInputException(where + ": " + e.getMessage(), e);
        }
    }

    /** The tensors in file order. */
    public static Map<String, HostTensor> read(byte[] file) {
        return parse(file).tensors;
    }

    /** The "__metadata__" map, empty when the file has none. */
    public static Map<String, String> readMetadata(byte[] file) {
        return parse(file).metadata;
    }

    private record Parsed(LinkedHashMap<String, HostTensor> tensors, Map<String, String> metadata) {
    }

    private record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    private record Header(Map<String, String> metadata, List<Entry> entries) {
    }

    private static Parsed parse(byte[] file) {
        if (file.length < 8) {
            throw malformed("file is " + file.length + " bytes, shorter than the 8-byte header length");
        }
        long headerLen = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > file.length - 8L) {
            throw malformed("header length " + headerLen + " does not fit a file of " + file.length + " bytes");
        }
        int dataStart = 8 + (int) headerLen;
        Header h = parseHeader(new String(file, 8, (int) headerLen, StandardCharsets.UTF_8));
        long dataLen = file.length - (long) dataStart;
        long expectedBegin = 0;
        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        for (Entry e : h.entries) {
            checkEntry(e, expectedBegin);
            if (e.end > dataLen) {
                throw malformed("tensor " + e.name + " ends at " + e.end + " past the data (" + dataLen + " bytes)");
            }
            byte[] data = Arrays.copyOfRange(file, dataStart + (int) e.begin, dataStart + (int) e.end);
            tensors.put(e.name, new HostTensor(e.dtype, e.shape, data));
            expectedBegin = e.end;
        }
        if (expectedBegin != dataLen) {
            throw malformed("data has " + dataLen + " bytes but the tensors cover " + expectedBegin);
        }
        return new Parsed(tensors, h.metadata);
    }

    /** Metadata and tensor entries sorted by offset. */
    private static Header parseHeader(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json.strip());
        } catch (JsonProcessingException e) {
            throw new BadInputException("malformed safetensors: header is not valid JSON: " + e.getOriginalMessage(),
                    e);
        }
        if (root == null || !root.isObject()) {
            throw malformed("header is not a JSON object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : root.properties()) {
            if (f.getKey().equals(METADATA)) {
                if (!f.getValue().isObject()) {
                    throw malformed(METADATA + " is not an object");
                }
                f.getValue().properties().forEach(m -> {
                    if (!m.getValue().isTextual()) {
                        throw malformed(METADATA + "." + m.getKey() + " is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
            } else {
                entries.add(entry(f.getKey(), f.getValue()));
            }
        }
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        return new Header(metadata, entries);
    }

    /** Starts where the previous tensor ended, and holds exactly what its dtype and shape need. */
    private static void checkEntry(Entry e, long expectedBegin) {
        if (e.begin != expectedBegin) {
            throw malformed("tensor " + e.name + " starts at " + e.begin + ", expected " + expectedBegin
                    + " (tensors must cover the data without gaps or overlaps)");
        }
        long need = HostTensor.numel(e.shape) * HostTensor.elementBytes(e.dtype);
        if (e.end - e.begin != need) {
            throw malformed("tensor " + e.name + " has " + (e.end - e.begin) + " bytes but dtype " + e.dtype
                    + " shape " + Arrays.toString(e.shape) + " needs " + need);
        }
    }

    private static Entry entry(String name, JsonNode n) {
        if (!n.isObject()) {
            throw malformed("tensor " + name + " is not an object");
        }
        JsonNode dtype = n.get("dtype");
        JsonNode shape = n.get("shape");
        JsonNode offsets = n.get("data_offsets");
        if (dtype == null || !dtype.isTextual() || HostTensor.elementBytes(dtype.asText()) < 0) {
            throw malformed("tensor " + name + " has missing or unknown dtype " + dtype);
        }
        if (shape == null || !shape.isArray()) {
            throw malformed("tensor " + name + " has no shape array");
        }
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            JsonNode d = shape.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw malformed("tensor " + name + " has a bad dimension " + d);
            }
            dims[i] = d.asLong();
        }
        if (offsets == null || !offsets.isArray() || offsets.size() != 2
                || !offsets.get(0).isIntegralNumber() || !offsets.get(1).isIntegralNumber()
                || !offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
            throw malformed("tensor " + name + " needs data_offsets [begin, end]");
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw malformed("tensor " + name + " has bad data_offsets [" + begin + ", " + end + "]");
        }
        try {
            HostTensor.numel(dims);
        } catch (ArithmeticException e) {
            throw malformed("tensor " + name + " shape " + Arrays.toString(dims) + " overflows");
        }
        return new Entry(name, dtype.asText(), dims, begin, end);
    }

    private static BadInputException malformed(String problem) {
        return new BadInputException("malformed safetensors: " + problem);
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
