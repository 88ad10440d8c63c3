package forge.stage;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;
import forge.stage.dpo.DpoConfig;
import forge.stage.dpo.DpoStage;
import forge.stage.grpo.GrpoConfig;
import forge.stage.grpo.GrpoStage;
import forge.stage.ppo.PpoConfig;
import forge.stage.ppo.PpoStage;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.reward.RewardConfig;
import forge.stage.reward.RewardStage;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.workflow.Stages;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The stages a worker can run, by the name a spec gives them. A new stage is its own package under
 * {@code forge.stage} plus one line here (and its name in {@link Stages}, which the workflow module owns).
 */
public final class StageRegistry {
    private static final Map<String, StageKind<?>> KINDS = index(List.of(
            StageKind.of(Stages.PRETRAIN, PretrainConfig::parse, (cfg, env, control) -> new PretrainStage(cfg,
                    env.store(cfg.checkpoint()), env.storage(), env.metrics(), env.cache()).run(control)),
            StageKind.of(Stages.SFT, SftConfig::parse, (cfg, env, control) -> new SftStage(cfg,
                    env.parentCheckpoint(), env.store(cfg.checkpoint()), env.storage(), env.metrics(), env.cache())
                    .run(control)),
            StageKind.of(Stages.REWARD, RewardConfig::parse, (cfg, env, control) -> new RewardStage(cfg,
                    env.parentCheckpoint(), env.store(cfg.checkpoint()), env.storage(), env.metrics(), env.cache())
                    .run(control)),
            StageKind.of(Stages.PPO, PpoConfig::parse, (cfg, env, control) -> new PpoStage(cfg,
                    env.earlierOutput(Stages.SFT), env.parentCheckpoint(), env.store(cfg.checkpoint()),
                    env.storage(), env.metrics(), env.cache()).run(control)),
            StageKind.of(Stages.GRPO, GrpoConfig::parse, (cfg, env, control) -> new GrpoStage(cfg,
                    env.earlierOutput(Stages.SFT), env.earlierOutput(Stages.REWARD), env.store(cfg.checkpoint()),
                    env.storage(), env.metrics(), env.cache()).run(control)),
            StageKind.of(Stages.DPO, DpoConfig::parse, (cfg, env, control) -> new DpoStage(cfg,
                    env.earlierOutput(Stages.SFT), env.store(cfg.checkpoint()), env.storage(), env.metrics(),
                    env.cache()).run(control))));

    private StageRegistry() {}

    /** The stage called {@code name}; a name no worker knows is the spec's error. */
    public static StageKind<?> kind(String name) {
        StageKind<?> kind = KINDS.get(name);
        if (kind == null) {
            throw new BadInputException("stages." + name + ": not available in this version; known stages are "
                    + KINDS.keySet());
        }
        return kind;
    }

    public static List<String> names() {
        return List.copyOf(KINDS.keySet());
    }

    /**
     * Checks a stage's config the way its worker will, so a bad spec is refused before a run starts; the error
     * names the field as {@code stages.<stage>.<field>}.
     */
    public static void validate(String stage, JsonNode config) {
        StageKind<?> kind = kind(stage);
        try {
            kind.parse(config);
        } catch (BadInputException e) {
            throw new BadInputException("stages." + stage + "." + e.getMessage(), e);
        }
    }

    private static Map<String, StageKind<?>> index(List<StageKind<?>> kinds) {
        Map<String, StageKind<?>> byName = new LinkedHashMap<>();
        for (StageKind<?> k : kinds) {
            if (byName.put(k.name(), k) != null) {
                throw new IllegalStateException("stage " + k.name() + " registered twice");
            }
        }
        return byName;
    }
}
