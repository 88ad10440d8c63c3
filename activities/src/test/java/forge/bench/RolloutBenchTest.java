package forge.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.errors.BadInputException;
import forge.stage.ppo.PpoConfig;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.reward.RewardConfig;
import forge.stage.sft.SftConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ./forge bench rollout} measures the demo's PPO, only with shorter parents; the run itself is too long here. */
class RolloutBenchTest {
    private static ObjectNode demoStages() throws Exception {
        return (ObjectNode) new ObjectMapper(new YAMLFactory()).readTree(Path.of("..", "config", "demo.yaml").toFile())
                .get("stages");
    }

    @Test
    void theStagesKeepTheDemosShapesAndPpoSettingsAndOnlyRunShorter() throws Exception {
        ObjectNode demo = demoStages();
        RolloutBench.Settings s = new RolloutBench.Settings(demo, 100, 50, 40, 1, 8, 32);
        PpoConfig demoPpo = PpoConfig.parse(demo.get("ppo"));
        PpoConfig ppo = PpoConfig.parse(RolloutBench.ppo(s));
        assertEquals(demoPpo.rollout(), ppo.rollout());
        assertEquals(demoPpo.objective(), ppo.objective());
        assertEquals(demoPpo.critic(), ppo.critic());
        assertEquals(demoPpo.train().batchSize(), ppo.train().batchSize());
        assertEquals(9, ppo.train().maxSteps());
        assertEquals(9, ppo.checkpoint().intervalSteps(), "no checkpoint between the measured iterations");
        assertEquals(32, ppo.evalPrompts());

        PretrainConfig demoPretrain = PretrainConfig.parse(demo.get("pretrain"));
        PretrainConfig pretrain = PretrainConfig.parse(RolloutBench.parent(s, "pretrain", 100));
        assertEquals(demoPretrain.model(), pretrain.model());
        assertEquals(demoPretrain.tokenizer(), pretrain.tokenizer());
        assertEquals(100, pretrain.train().maxSteps());
        assertEquals(100, pretrain.optimizer().decaySteps(), "the schedule follows the shorter run");
        assertEquals(50, SftConfig.parse(RolloutBench.parent(s, "sft", 50)).train().maxSteps());
        assertEquals(40, RewardConfig.parse(RolloutBench.parent(s, "reward", 40)).train().maxSteps());
        assertEquals(2000, demo.get("pretrain").get("train").get("max_steps").asInt(), "the demo's spec is untouched");
    }

    @Test
    void theSectionSummarisesTheMeasuredIterations() throws Exception {
        RolloutBench.Settings s = new RolloutBench.Settings(demoStages(), 100, 50, 50, 1, 2, 32);
        List<RolloutBench.Iteration> its = List.of(new RolloutBench.Iteration(2, 4.0, 768, 0.25, 0.10, 768 / 1.0),
                new RolloutBench.Iteration(3, 2.0, 704, 0.25, 0.10, 704 / 0.5));
        BenchSection section = RolloutBench.section(new RolloutBench.Result(s, its, 32, 24, 30, 2));
        String md = section.markdown();
        assertTrue(md.contains("| 1,088 [768–1,408] |"), md);                 // generation tokens/s: median [min–max]
        assertTrue(md.contains("| 272 |"), md);                               // (192 + 352) / 2 new tokens per second
        assertTrue(md.contains("| 3.00 [2.00–4.00] |"), md);
        assertTrue(md.contains("| 25% / 10% / 65% |"), md);
        assertTrue(md.contains("| 23.0 |"), md);                              // (768 + 704) / 2 / 32
    }

    @Test
    void settingsRefuseNothingToMeasure() throws Exception {
        assertThrows(BadInputException.class, () -> new RolloutBench.Settings(demoStages(), 100, 50, 50, 1, 0, 32));
        ObjectNode noPpo = demoStages();
        noPpo.remove("ppo");
        assertThrows(BadInputException.class, () -> new RolloutBench.Settings(noPpo, 100, 50, 50, 1, 8, 32));
    }
}
