package forge.activities;

import forge.workflow.PipelineSearchAttributes;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.temporal.api.enums.v1.IndexedValueType;
import io.temporal.api.operatorservice.v1.AddSearchAttributesRequest;
import io.temporal.api.operatorservice.v1.ListSearchAttributesRequest;
import io.temporal.client.WorkflowClient;
import io.temporal.serviceclient.OperatorServiceStubs;
import io.temporal.serviceclient.OperatorServiceStubsOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Which of the pipeline's search attributes the namespace has registered, with the right type: the workflow upserts
 * only those, since upserting an unregistered one fails its workflow task on a real cluster. Registering is an
 * operator's job ({@code temporal operator search-attribute create}, README); the one exception is Temporal's Java
 * test server behind {@code ./forge dev}, which cannot list search attributes, so there they are registered here.
 */
public final class SearchAttributeCheck {
    private static final Logger log = LoggerFactory.getLogger(SearchAttributeCheck.class);

    static final Map<String, IndexedValueType> TYPES = Map.of(
            PipelineSearchAttributes.STAGE.getName(), IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            PipelineSearchAttributes.STATE.getName(), IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            PipelineSearchAttributes.STEP.getName(), IndexedValueType.INDEXED_VALUE_TYPE_INT);

    private final String namespace;
    private final OperatorServiceStubs operator;

    /** Shares the client's connection (and with it TLS and the API key); closed with it. */
    SearchAttributeCheck(WorkflowClient client) {
        this.namespace = client.getOptions().getNamespace();
        this.operator = OperatorServiceStubs.newServiceStubs(
                OperatorServiceStubsOptions.newBuilder(client.getWorkflowServiceStubs().getOptions())
                        // The options name the target the channel was made for; the channel replaces it.
                        .setTarget(null)
                        // TLS is the channel's already; the builder refuses both a channel and an SSL context.
                        .setSslContext(null)
                        .setEnableHttps(false)
                        .setChannelInitializer(null)
                        .setChannel(client.getWorkflowServiceStubs().getRawChannel())
                        .validateAndBuildWithDefaults());
    }

    List<String> registered() {
        try {
            Map<String, IndexedValueType> custom = operator.blockingStub()
                    .listSearchAttributes(ListSearchAttributesRequest.newBuilder().setNamespace(namespace).build())
                    .getCustomAttributesMap();
            List<String> found = new ArrayList<>();
            for (String name : PipelineSearchAttributes.NAMES) {
                IndexedValueType type = custom.get(name);
                if (type == TYPES.get(name)) {
                    found.add(name);
                } else if (type != null) {
                    log.warn("search attribute {} is registered as {}, not {}: the pipeline will not set it", name,
                            type, TYPES.get(name));
                }
            }
            if (found.size() < PipelineSearchAttributes.NAMES.size()) {
                log.info("search attributes registered in namespace {}: {} of {} (README: temporal operator "
                        + "search-attribute create)", namespace, found, PipelineSearchAttributes.NAMES);
            }
            return found;
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.UNIMPLEMENTED) {
                return register(operator, namespace);
            }
            log.warn("cannot list search attributes of namespace {} ({}); the pipeline will set none", namespace,
                    e.getStatus());
            return List.of();
        }
    }

    /**
     * Registers the pipeline's search attributes (the dev stack does at start, on its Java test server, which lists
     * nothing but accepts registrations); one that exists already counts as registered.
     */
    public static List<String> register(OperatorServiceStubs operator, String namespace) {
        List<String> found = new ArrayList<>();
        for (String name : PipelineSearchAttributes.NAMES) {
            try {
                operator.blockingStub().addSearchAttributes(AddSearchAttributesRequest.newBuilder()
                        .setNamespace(namespace).putSearchAttributes(name, TYPES.get(name)).build());
                found.add(name);
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() == Status.Code.ALREADY_EXISTS
                        || String.valueOf(e.getStatus().getDescription()).contains("already")) {
                    found.add(name);
                } else {
                    log.warn("cannot register search attribute {}: {}", name, e.getStatus());
                }
            }
        }
        return found;
    }
}
