package forge.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * More than one stage per worker process is refused at start, with the reason and what to do instead, before a port
 * or a connection is opened (the Temporal address here is a closed port: reaching it would fail differently).
 */
class GpuSlotsTest {

    @Test
    void moreThanOneSlotPerWorkerIsRefusedSayingWhyAndWhatToDo() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Forge.execute("worker", "--role", "gpu", "--slots", "2", "--metrics-port", "-1",
                    "--address", "127.0.0.1:" + closed);
        } finally {
            System.setErr(oldErr);
        }
        String msg = err.toString(StandardCharsets.UTF_8);
        assertEquals(Forge.EXIT_BAD_INPUT, code, msg);
        assertTrue(msg.contains("FORGE_GPU_SLOTS (--slots) is 2"), msg);
        assertTrue(msg.contains("one gradient collector per engine") && msg.contains("global RNG"), msg);
        assertTrue(msg.contains("one worker process per GPU"), msg);
    }
}
