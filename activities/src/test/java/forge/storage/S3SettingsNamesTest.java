package forge.storage;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The last line of defence: whatever a caller passes, a run's S3 directory stays under the configured prefix. */
class S3SettingsNamesTest {
    private final S3Settings s3 = new S3Settings(null, null, false, "ckpts", "runs");

    @Test
    void ordinaryNamesBuildTheUsualLayout() {
        assertEquals("s3://ckpts/runs/demo-20261125-172126/pretrain", s3.stageRoot("demo-20261125-172126", "pretrain")
                .toString());
        assertEquals("s3://ckpts/runs/r.1_x", s3.runRoot("r.1_x").toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"..", "a..b", "../x", "a/b", "a\\b", "a b", "x\ny", "x\u0000", "é", ""})
    void aBadRunIdIsRefusedNamingTheField(String runId) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s3.stageRoot(runId, "sft"));
        assertTrue(e.getMessage().startsWith("run id "), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> s3.runRoot(runId));
        assertTrue(e.getMessage().startsWith("run id "), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"..", "../sft", "s/ft", "s\\ft", "s ft", "s\tft"})
    void aBadStageNameIsRefusedNamingTheField(String stage) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s3.stageRoot("run", stage));
        assertTrue(e.getMessage().startsWith("stage "), e.getMessage());
    }

    @Test
    void lengthIsBounded() {
        s3.stageRoot("r".repeat(128), "sft");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s3.stageRoot("r".repeat(129), "sft"));
        assertTrue(e.getMessage().contains("longer than 128"), e.getMessage());
    }
}
