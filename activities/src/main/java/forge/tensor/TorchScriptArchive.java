package forge.tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The bytes of a TorchScript module file (what torch.jit.save writes) for a module with no parameters and one
 * {@code forward} written in TorchScript's serialized Python. torch.jit.load compiles the source in {@code code/}
 * when it loads, so a module is only a zip of that source, a pickle naming its class and a format version; nothing
 * here needs Python or torch to build it.
 *
 * <p>Serialized TorchScript is not the Python users write: dtypes are their integer codes (6 float32, 5 float16,
 * 15 bfloat16) and arguments are positional, as torch.jit.save itself prints them.
 */
final class TorchScriptArchive {
    /**
     * The file format version torch.jit.save writes since 1.11: it tells the loader that operators already have
     * their current schemas (gelu's approximate, sdpa's scale), so no upgrader rewrites the calls.
     */
    private static final String FORMAT_VERSION = "10";

    private TorchScriptArchive() {
    }

    /**
     * @param className a Python identifier, unique among the modules a process loads
     * @param signature forward's parameters after self, with their types, and its return type: "x: Tensor) -> Tensor"
     * @param body      forward's body, each line indented by four spaces
     */
    static byte[] module(String className, String signature, String body) {
        String code = "class " + className + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: __torch__." + className + ",\n"
                + "    " + signature + ":\n"
                + body;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            stored(zip, "archive/data.pkl", instancePickle(className));
            stored(zip, "archive/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // protocol 2, (), stop
            stored(zip, "archive/version", (FORMAT_VERSION + "\n").getBytes(StandardCharsets.US_ASCII));
            stored(zip, "archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
            stored(zip, "archive/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** pickle.dumps(obj, protocol=2) of an instance of __torch__.className whose only attribute is training=True. */
    private static byte[] instancePickle(String className) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(0x80);                                                   // PROTO 2
        o.write(2);
        o.writeBytes(("c__torch__\n" + className + "\n").getBytes(StandardCharsets.US_ASCII)); // GLOBAL
        o.write(')');                                                    // EMPTY_TUPLE
        o.write(0x81);                                                   // NEWOBJ
        o.write('}');                                                    // EMPTY_DICT
        byte[] name = "training".getBytes(StandardCharsets.US_ASCII);
        o.write('X');                                                    // BINUNICODE, 4-byte little-endian length
        o.write(name.length);
        o.write(0);
        o.write(0);
        o.write(0);
        o.writeBytes(name);
        o.write(0x88);                                                   // NEWTRUE
        o.write('s');                                                    // SETITEM
        o.write('b');                                                    // BUILD
        o.write('.');                                                    // STOP
        return o.toByteArray();
    }

    /** Stored, not deflated, as torch.jit.save writes its records. */
    private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }
}
