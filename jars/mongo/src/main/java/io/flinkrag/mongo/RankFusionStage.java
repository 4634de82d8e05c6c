package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code $rankFusion} as MongoDB documents it: {@code input.pipelines} (named sub-pipelines on
 * the same collection, each a selection and ranked pipeline: it starts with {@code $search},
 * {@code $vectorSearch} or {@code $sort} and holds only {@code $match}, {@code $sort}, {@code
 * $skip}, {@code $limit} after it), {@code combination.weights} (non-negative, default 1), and
 * {@code scoreDetails}. Reciprocal rank fusion: a document's score is the sum over the pipelines
 * that return it of weight × 1 / (60 + rank), rank counted from 1; each document once.
 */
final class RankFusionStage {
  /** The constant of reciprocal rank fusion MongoDB uses. */
  static final int RANK_CONSTANT = 60;
  private static final Set<String> KEYS = Set.of("input", "combination", "scoreDetails");
  private static final Set<String> FIRST = Set.of("$search", "$vectorSearch", "$sort");
  private static final Set<String> LATER = Set.of("$match", "$sort", "$skip", "$limit");

  /** How the backend runs the parts of a sub-pipeline. */
  interface Runner {
    /** A $search or $vectorSearch first stage, at most `limit` hits. */
    List<Document> search(Document stage, int limit);

    /** The collection's documents (for a pipeline that starts with $sort). */
    List<Document> all();

    /** Stages run on the given documents by the server's own aggregation. */
    List<Document> later(List<Document> docs, List<Document> stages);
  }

  private RankFusionStage() {}

  static List<Document> run(Object rawSpec, Runner runner) {
    if (!(rawSpec instanceof Document)) {
      throw error("the stage's argument must be a document");
    }
    Document spec = (Document) rawSpec;
    for (String key : spec.keySet()) {
      if (!KEYS.contains(key)) {
        throw error("unknown field \"" + key + "\" (allowed: input, combination, scoreDetails)");
      }
    }
    Object details = spec.getOrDefault("scoreDetails", false);
    if (!(details instanceof Boolean)) {
      throw error("\"scoreDetails\" must be a boolean");
    }
    Map<String, List<Document>> pipelines = pipelines(spec.get("input"));
    Map<String, Double> weights = weights(spec.get("combination"), pipelines.keySet());

    Map<Object, Document> docs = new LinkedHashMap<>();
    Map<Object, Double> scores = new LinkedHashMap<>();
    Map<Object, List<Document>> contributions = new LinkedHashMap<>();
    for (Map.Entry<String, List<Document>> pipeline : pipelines.entrySet()) {
      double weight = weights.getOrDefault(pipeline.getKey(), 1.0);
      int rank = 0;
      for (Document doc : execute(pipeline.getValue(), runner)) {
        Object id = doc.get("_id");
        if (contributions.containsKey(id) && contributions.get(id).stream()
            .anyMatch(c -> pipeline.getKey().equals(c.get("inputPipelineName")))) {
          continue; // the same document twice in one pipeline counts at its best rank
        }
        rank++;
        scores.merge(id, weight / (RANK_CONSTANT + rank), Double::sum);
        Document contribution = new Document("inputPipelineName", pipeline.getKey())
            .append("rank", rank)
            .append("weight", weight);
        if (doc.get(TextSearchStage.SCORE) != null) {
          contribution.append("value", doc.get(TextSearchStage.SCORE));
        }
        Object inner = doc.get(TextSearchStage.SCORE_DETAILS);
        contribution.append("details", inner != null ? inner : List.of());
        contributions.computeIfAbsent(id, k -> new ArrayList<>()).add(contribution);
        docs.computeIfAbsent(id, k -> {
          Document clean = new Document(doc);
          TextSearchStage.HIDDEN.forEach(clean::remove);
          return clean;
        });
      }
    }
    List<Object> order = new ArrayList<>(docs.keySet());
    order.sort((a, b) -> Double.compare(scores.get(b), scores.get(a))); // stable: ties keep first-seen order
    List<Document> out = new ArrayList<>(order.size());
    for (Object id : order) {
      Document doc = docs.get(id);
      double score = scores.get(id);
      doc.put(TextSearchStage.SCORE, score);
      if ((Boolean) details) {
        doc.put(TextSearchStage.SCORE_DETAILS, new Document("value", score)
            .append("description", "value output by reciprocal rank fusion algorithm, computed as sum of"
                + " (weight * (1 / (" + RANK_CONSTANT + " + rank))) across input pipelines from which"
                + " this document is output, from:")
            .append("details", contributions.get(id)));
      }
      out.add(doc);
    }
    return out;
  }

  private static List<Document> execute(List<Document> stages, Runner runner) {
    Document first = stages.get(0);
    String name = first.keySet().iterator().next();
    List<Document> rest = stages.subList(1, stages.size());
    if ("$sort".equals(name)) {
      return runner.later(runner.all(), stages);
    }
    int limit = Integer.MAX_VALUE;
    if (!rest.isEmpty() && rest.get(0).get("$limit") instanceof Number) {
      limit = Math.max(1, ((Number) rest.get(0).get("$limit")).intValue());
    }
    List<Document> hits = runner.search(first, limit);
    return rest.isEmpty() ? hits : runner.later(hits, rest);
  }

  private static Map<String, List<Document>> pipelines(Object rawInput) {
    if (!(rawInput instanceof Document) || !((Document) rawInput).keySet().equals(Set.of("pipelines"))) {
      throw error("\"input\" is required and must be {pipelines: {<name>: [<stages>], ...}}");
    }
    Object rawPipelines = ((Document) rawInput).get("pipelines");
    if (!(rawPipelines instanceof Document) || ((Document) rawPipelines).isEmpty()) {
      throw error("\"input.pipelines\" must hold at least one named pipeline");
    }
    Map<String, List<Document>> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> entry : ((Document) rawPipelines).entrySet()) {
      String name = entry.getKey();
      if (name.isEmpty() || name.startsWith("$") || name.contains(".")) {
        throw error("input pipeline name \"" + name + "\" must be non-empty, must not start with '$'"
            + " and must not contain '.'");
      }
      if (!(entry.getValue() instanceof List) || ((List<?>) entry.getValue()).isEmpty()) {
        throw error("input pipeline \"" + name + "\" must be a non-empty array of stages");
      }
      List<Document> stages = new ArrayList<>();
      for (Object raw : (List<?>) entry.getValue()) {
        if (!(raw instanceof Document) || ((Document) raw).size() != 1) {
          throw error("input pipeline \"" + name + "\": each stage must be a document with one field");
        }
        Document stage = (Document) raw;
        String stageName = stage.keySet().iterator().next();
        boolean first = stages.isEmpty();
        if (first && !FIRST.contains(stageName)) {
          throw error("input pipeline \"" + name + "\" must begin with a ranked stage ($search,"
              + " $vectorSearch or $sort), not " + stageName);
        }
        if (!first && !LATER.contains(stageName)) {
          throw error("input pipeline \"" + name + "\" has " + stageName + "; an input pipeline must be a"
              + " selection pipeline ($match, $sort, $skip, $limit after its first stage) that does not"
              + " modify documents: modify them after $rankFusion");
        }
        stages.add(stage);
      }
      out.put(name, stages);
    }
    return out;
  }

  private static Map<String, Double> weights(Object rawCombination, Set<String> names) {
    Map<String, Double> out = new LinkedHashMap<>();
    if (rawCombination == null) {
      return out;
    }
    if (!(rawCombination instanceof Document) || !Set.of("weights").containsAll(((Document) rawCombination).keySet())) {
      throw error("\"combination\" must be {weights: {<pipeline name>: <number>, ...}}");
    }
    Object rawWeights = ((Document) rawCombination).getOrDefault("weights", new Document());
    if (!(rawWeights instanceof Document)) {
      throw error("\"combination.weights\" must be a document of pipeline name to weight");
    }
    for (Map.Entry<String, Object> entry : ((Document) rawWeights).entrySet()) {
      if (!names.contains(entry.getKey())) {
        throw error("combination.weights names \"" + entry.getKey() + "\", which is not an input pipeline"
            + " (pipelines: " + String.join(", ", names) + ")");
      }
      Object value = entry.getValue();
      if (!(value instanceof Number) || !(((Number) value).doubleValue() >= 0)
          || Double.isInfinite(((Number) value).doubleValue())) {
        throw error("weight of \"" + entry.getKey() + "\" must be a non-negative number");
      }
      out.put(entry.getKey(), ((Number) value).doubleValue());
    }
    return out;
  }

  /** Whether a pipeline reads {$meta: `meta`} anywhere. */
  static boolean readsMeta(Object stage, String meta) {
    if (stage instanceof Document) {
      Document doc = (Document) stage;
      if (doc.size() == 1 && meta.equals(doc.get("$meta"))) {
        return true;
      }
      return doc.values().stream().anyMatch(v -> readsMeta(v, meta));
    }
    if (stage instanceof List) {
      return ((List<?>) stage).stream().anyMatch(v -> readsMeta(v, meta));
    }
    return false;
  }

  static MongoServerError error(String message) {
    return new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue", "$rankFusion: " + message);
  }
}
