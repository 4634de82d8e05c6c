package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The stages after a search stage, made runnable by mongo-java-server's aggregation: it lacks the
 * aliases {@code $set} (of {@code $addFields}) and {@code $replaceWith} (of {@code $replaceRoot}),
 * and reads no {@code $meta}. Each {@code {$meta: "vectorSearchScore"}} becomes a read of the
 * hidden score field; in a {@code $project} it is computed first by an {@code $addFields}, since
 * MongoDB allows {@code $meta} beside exclusions ({@code {embedding: 0, score: {$meta: ...}}}),
 * which a plain computed field would not be.
 */
final class LaterStages {
  private LaterStages() {}

  /** The {$meta: ...} each first stage gives its later stages, and the hidden field each reads. */
  static final Map<String, String> AFTER_VECTOR = Map.of(
      "vectorSearchScore", VectorSearchStage.SCORE_FIELD, "score", VectorSearchStage.SCORE_FIELD);
  static final Map<String, String> AFTER_SEARCH = Map.of("searchScore", TextSearchStage.SEARCH_SCORE,
      "score", TextSearchStage.SCORE, "scoreDetails", TextSearchStage.SCORE_DETAILS);
  static final Map<String, String> AFTER_FUSION =
      Map.of("score", TextSearchStage.SCORE, "scoreDetails", TextSearchStage.SCORE_DETAILS);

  static List<Document> rewrite(List<Document> stages, Map<String, String> known) {
    List<Document> out = new ArrayList<>();
    for (Document stage : stages) {
      if (stage.size() != 1) {
        out.add(stage); // the library refuses it with MongoDB's message
        continue;
      }
      String name = stage.keySet().iterator().next();
      Object spec = stage.get(name);
      switch (name) {
        case "$set":
          out.add(new Document("$addFields", withScoreField(spec, known)));
          break;
        case "$replaceWith":
          out.add(new Document("$replaceRoot", new Document("newRoot", withScoreField(spec, known))));
          break;
        case "$project":
          project(spec, out, known);
          break;
        default:
          out.add((Document) withScoreField(stage, known));
      }
    }
    return out;
  }

  private static void project(Object spec, List<Document> out, Map<String, String> known) {
    if (!(spec instanceof Document)) {
      out.add(new Document("$project", spec));
      return;
    }
    Document metas = new Document();
    Document rest = new Document();
    for (Map.Entry<String, Object> entry : ((Document) spec).entrySet()) {
      if (isMeta(entry.getValue())) {
        metas.put(entry.getKey(), withScoreField(entry.getValue(), known));
      } else {
        rest.put(entry.getKey(), withScoreField(entry.getValue(), known));
      }
    }
    if (metas.isEmpty()) {
      out.add(new Document("$project", rest));
      return;
    }
    out.add(new Document("$addFields", metas));
    if (isInclusion(rest)) {
      for (String field : metas.keySet()) {
        rest.put(field, 1);
      }
    }
    if (!rest.isEmpty()) {
      out.add(new Document("$project", rest));
    }
  }

  /** A projection that keeps only what it names (any field but _id with a value other than 0). */
  private static boolean isInclusion(Document projection) {
    for (Map.Entry<String, Object> entry : projection.entrySet()) {
      Object value = entry.getValue();
      boolean excludes = Boolean.FALSE.equals(value)
          || (value instanceof Number && ((Number) value).doubleValue() == 0);
      if (!excludes && !"_id".equals(entry.getKey())) {
        return true;
      }
    }
    return false;
  }

  private static boolean isMeta(Object value) {
    return value instanceof Document && ((Document) value).size() == 1 && ((Document) value).containsKey("$meta");
  }

  /** Every {$meta: "vectorSearchScore"} read from the hidden score field. */
  static Object withScoreField(Object stage, Map<String, String> known) {
    if (stage instanceof Document) {
      Document doc = (Document) stage;
      if (isMeta(doc)) {
        Object meta = doc.get("$meta");
        String hidden = known.get(meta);
        if (hidden != null) {
          return "$" + hidden;
        }
        throw new MongoServerError(17308, "Location17308",
            "Unsupported argument to $meta: " + meta + " (after this search stage the stand-in knows "
                + String.join(", ", new java.util.TreeSet<>(known.keySet())) + ")");
      }
      Document copy = new Document();
      for (Map.Entry<String, Object> entry : doc.entrySet()) {
        copy.put(entry.getKey(), withScoreField(entry.getValue(), known));
      }
      return copy;
    }
    if (stage instanceof List) {
      List<Object> copy = new ArrayList<>();
      for (Object element : (List<?>) stage) {
        copy.add(withScoreField(element, known));
      }
      return copy;
    }
    return stage;
  }
}
