package forge.tensor;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

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
        TreeMap<String, HostTensor> sorted = new TreeMap<>(tensors);
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
        for (Map.Entry<String, HostTensor> e : sorted.entrySet()) {
            HostTensor t = e.getValue();
            if (h.length() > 1) {
                h.append(',');
            }
            h.append(quote(e.getKey())).append(":{\"dtype\":").append(quote(t.dtype())).append(",\"shape\":[");
            long[] shape = t.shape();
            for (int i = 0; i < shape.length; i++) {
                h.append(i == 0 ? "" : ",").append(shape[i]);
            }
            long end = offset + t.data().length;
            h.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8;
        long total = 8L + padded + offset;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("safetensors payload of " + total + " bytes does not fit in one array");
        }
        ByteBuffer out = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(header);
        for (int i = header.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (HostTensor t : sorted.values()) {
            out.put(t.data());
        }
        return out.array();
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

    private static Parsed parse(byte[] file) {
        if (file.length < 8) {
            throw malformed("file is " + file.length + " bytes, shorter than the 8-byte header length");
        }
        long headerLen = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > file.length - 8L) {
            throw malformed("header length " + headerLen + " does not fit a file of " + file.length + " bytes");
        }
        int dataStart = 8 + (int) headerLen;
        JsonNode root;
        try {
            root = JSON.readTree(new String(file, 8, (int) headerLen, StandardCharsets.UTF_8).strip());
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
        long dataLen = file.length - (long) dataStart;
        long expectedBegin = 0;
        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries) {
            if (e.begin != expectedBegin) {
                throw malformed("tensor " + e.name + " starts at " + e.begin + ", expected " + expectedBegin
                        + " (tensors must cover the data without gaps or overlaps)");
            }
            if (e.end > dataLen) {
                throw malformed("tensor " + e.name + " ends at " + e.end + " past the data (" + dataLen + " bytes)");
            }
            long need = HostTensor.numel(e.shape) * HostTensor.elementBytes(e.dtype);
            if (e.end - e.begin != need) {
                throw malformed("tensor " + e.name + " has " + (e.end - e.begin) + " bytes but dtype " + e.dtype
                        + " shape " + Arrays.toString(e.shape) + " needs " + need);
            }
            byte[] data = Arrays.copyOfRange(file, dataStart + (int) e.begin, dataStart + (int) e.end);
            tensors.put(e.name, new HostTensor(e.dtype, e.shape, data));
            expectedBegin = e.end;
        }
        if (expectedBegin != dataLen) {
            throw malformed("data has " + dataLen + " bytes but the tensors cover " + expectedBegin);
        }
        return new Parsed(tensors, metadata);
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

    private static String quote(String s) {
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
