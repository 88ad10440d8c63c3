package forge.demo;

import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoUriTest {
    @Test
    void parsesDatasetAndParameters() {
        assertEquals(new DemoUri("pretrain", 7, 20000, Split.TRAIN, 4),
                DemoUri.parse("demo:pretrain?seed=7&docs=20000", "f"));
        assertEquals(new DemoUri("sft", 3, 50, Split.HELD_OUT, 4),
                DemoUri.parse("demo:sft?seed=3&count=50&split=held_out", "f"));
        assertEquals(new DemoUri("pretrain", 0, 20000, Split.TRAIN, 4), DemoUri.parse("demo:pretrain", "f"));
        assertEquals(5, DemoUri.parse("demo:ranked?k=5", "f").k());
    }

    @Test
    void rejectsWhatItCannotMeanWithTheFieldName() {
        assertMessage("data.sources[0].path: unknown demo dataset \"books\"", "demo:books?seed=1");
        assertMessage("data.sources[0].path: bad parameter \"sed=1\"", "demo:pretrain?sed=1");
        assertMessage("data.sources[0].path: seed must be a whole number", "demo:pretrain?seed=x");
        assertMessage("data.sources[0].path: count must be in 1..", "demo:pretrain?docs=0");
        assertMessage("data.sources[0].path: split must be train or held_out", "demo:sft?split=test");
    }

    private static void assertMessage(String prefix, String uri) {
        BadInputException e = assertThrows(BadInputException.class, () -> DemoUri.parse(uri, "data.sources[0].path"));
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    }
}
