package io.flinkrag.mongo;

import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.lucene.document.DoublePoint;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.LongPoint;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause.Occur;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TermRangeQuery;

/**
 * The {@code filter} of {@code $vectorSearch} as a Lucene pre-filter query, and the Lucene fields
 * a document's filter paths are indexed as.
 *
 * <p>Atlas filters on booleans, numbers, dates, strings, ObjectIds, UUIDs and null, with {@code
 * $eq $ne $gt $gte $lt $lte $in $nin $exists $not $and $or $nor}. Every value is indexed under a
 * field named for its type, so an operator compares like with like: dates as epoch milliseconds,
 * and numbers by value across BSON types, exactly: an integral number (int, long, or a double
 * with no fraction in long's range) is indexed as a long, any other as a double, so longs above
 * 2^53 never collide the way their nearest doubles would. An array matches when any element does, as in
 * MQL. Missing and null fields match {@code {path: null}} and {@code $ne}, as in MQL.
 */
final class FilterQuery {
  private static final String EXISTS = "exists";

  private FilterQuery() {}

  // -- indexing ---------------------------------------------------------------------------------

  static void addFields(org.apache.lucene.document.Document target, Document doc, List<String> paths) {
    for (String path : paths) {
      Object value = Utils.getSubdocumentValueCollectionAware(doc, path);
      if (value instanceof Missing) {
        continue;
      }
      target.add(new StringField(EXISTS, path, Field.Store.NO));
      if (value instanceof Collection) {
        for (Object element : (Collection<?>) value) {
          addValue(target, path, element);
        }
      } else {
        addValue(target, path, value);
      }
    }
  }

  private static void addValue(org.apache.lucene.document.Document target, String path, Object value) {
    if (value == null) {
      target.add(new StringField("z:" + path, "null", Field.Store.NO));
    } else if (value instanceof Boolean) {
      target.add(new StringField("b:" + path, value.toString(), Field.Store.NO));
    } else if (value instanceof Number) {
      Long integral = integral((Number) value);
      if (integral != null) {
        target.add(new LongPoint("i:" + path, integral));
      } else {
        target.add(new DoublePoint("n:" + path, ((Number) value).doubleValue()));
      }
    } else if (value instanceof Instant) {
      target.add(new LongPoint("d:" + path, ((Instant) value).toEpochMilli()));
    } else if (value instanceof String) {
      target.add(new StringField("s:" + path, (String) value, Field.Store.NO));
    } else if (value instanceof ObjectId) {
      target.add(new StringField("o:" + path, ((ObjectId) value).getHexData(), Field.Store.NO));
    } else if (value instanceof UUID) {
      target.add(new StringField("u:" + path, value.toString(), Field.Store.NO));
    }
    // Other BSON types (documents, binary, regex, ...) cannot be filtered on in Atlas either.
  }

  // -- querying ---------------------------------------------------------------------------------

  /** The filter as a Lucene query; MongoServerError for an undeclared path or operator. */
  static Query parse(Object filter, List<String> declared) {
    if (!(filter instanceof Document)) {
      throw error("'filter' must be a document");
    }
    return document((Document) filter, declared);
  }

  private static Query document(Document filter, List<String> declared) {
    BooleanQuery.Builder all = new BooleanQuery.Builder();
    int clauses = 0;
    for (Map.Entry<String, Object> entry : filter.entrySet()) {
      String key = entry.getKey();
      Query clause;
      switch (key) {
        case "$and":
          clause = logical(entry.getValue(), declared, Occur.MUST, key);
          break;
        case "$or":
          clause = logical(entry.getValue(), declared, Occur.SHOULD, key);
          break;
        case "$nor":
          clause = not(logical(entry.getValue(), declared, Occur.SHOULD, key));
          break;
        default:
          if (key.startsWith("$")) {
            throw error("Operator " + key + " is not supported in a $vectorSearch filter");
          }
          if (!declared.contains(key)) {
            throw error("Path '" + key + "' needs to be indexed as filter");
          }
          clause = field(key, entry.getValue());
      }
      all.add(clause, Occur.MUST);
      clauses++;
    }
    return clauses == 0 ? new MatchAllDocsQuery() : all.build();
  }

  private static Query logical(Object value, List<String> declared, Occur occur, String op) {
    if (!(value instanceof List) || ((List<?>) value).isEmpty()) {
      throw error(op + " must be a non-empty array");
    }
    BooleanQuery.Builder builder = new BooleanQuery.Builder();
    for (Object element : (List<?>) value) {
      if (!(element instanceof Document)) {
        throw error(op + " entries must be documents");
      }
      builder.add(document((Document) element, declared), occur);
    }
    return builder.build();
  }

  private static Query field(String path, Object condition) {
    if (!(condition instanceof Document) || !isOperatorDocument((Document) condition)) {
      return eq(path, condition);
    }
    BooleanQuery.Builder all = new BooleanQuery.Builder();
    for (Map.Entry<String, Object> entry : ((Document) condition).entrySet()) {
      all.add(operator(path, entry.getKey(), entry.getValue()), Occur.MUST);
    }
    return all.build();
  }

  private static boolean isOperatorDocument(Document condition) {
    return !condition.isEmpty() && condition.keySet().iterator().next().startsWith("$");
  }

  private static Query operator(String path, String op, Object value) {
    switch (op) {
      case "$eq":
        return eq(path, value);
      case "$ne":
        return not(eq(path, value));
      case "$gt":
        return range(path, op, value, false, true);
      case "$gte":
        return range(path, op, value, true, true);
      case "$lt":
        return range(path, op, value, false, false);
      case "$lte":
        return range(path, op, value, true, false);
      case "$in":
        return in(path, op, value);
      case "$nin":
        return not(in(path, op, value));
      case "$exists":
        Query exists = new TermQuery(new Term(EXISTS, path));
        return Boolean.TRUE.equals(value) || (value instanceof Number && ((Number) value).intValue() != 0)
            ? exists
            : not(exists);
      case "$not":
        if (!(value instanceof Document) || !isOperatorDocument((Document) value)) {
          throw error("$not needs a document of operators");
        }
        return not(field(path, value));
      default:
        throw error("Operator " + op + " is not supported in a $vectorSearch filter");
    }
  }

  private static Query in(String path, String op, Object value) {
    if (!(value instanceof List)) {
      throw error(op + " needs an array");
    }
    BooleanQuery.Builder any = new BooleanQuery.Builder();
    for (Object element : (List<?>) value) {
      any.add(eq(path, element), Occur.SHOULD);
    }
    return ((List<?>) value).isEmpty() ? new MatchNoDocsQuery() : any.build();
  }

  private static Query eq(String path, Object value) {
    if (value == null) {
      // MQL: {path: null} matches null and missing.
      return new BooleanQuery.Builder()
          .add(new TermQuery(new Term("z:" + path, "null")), Occur.SHOULD)
          .add(not(new TermQuery(new Term(EXISTS, path))), Occur.SHOULD)
          .build();
    } else if (value instanceof Boolean) {
      return new TermQuery(new Term("b:" + path, value.toString()));
    } else if (value instanceof Number) {
      Long integral = integral((Number) value);
      return integral != null
          ? LongPoint.newExactQuery("i:" + path, integral)
          : DoublePoint.newExactQuery("n:" + path, ((Number) value).doubleValue());
    } else if (value instanceof Instant) {
      return LongPoint.newExactQuery("d:" + path, ((Instant) value).toEpochMilli());
    } else if (value instanceof String) {
      return new TermQuery(new Term("s:" + path, (String) value));
    } else if (value instanceof ObjectId) {
      return new TermQuery(new Term("o:" + path, ((ObjectId) value).getHexData()));
    } else if (value instanceof UUID) {
      return new TermQuery(new Term("u:" + path, value.toString()));
    }
    throw error("cannot filter on a value of type " + Utils.describeType(value) + " in '" + path + "'");
  }

  private static Query range(String path, String op, Object value, boolean inclusive, boolean lower) {
    if (value instanceof Number) {
      return new BooleanQuery.Builder()
          .add(longRange(path, (Number) value, inclusive, lower), Occur.SHOULD)
          .add(doubleRange(path, ((Number) value).doubleValue(), inclusive, lower), Occur.SHOULD)
          .build();
    }
    if (value instanceof Instant) {
      long bound = ((Instant) value).toEpochMilli() + (inclusive ? 0 : (lower ? 1 : -1));
      return lower
          ? LongPoint.newRangeQuery("d:" + path, bound, Long.MAX_VALUE)
          : LongPoint.newRangeQuery("d:" + path, Long.MIN_VALUE, bound);
    }
    if (value instanceof String) {
      String field = "s:" + path;
      return lower
          ? TermRangeQuery.newStringRange(field, (String) value, null, inclusive, true)
          : TermRangeQuery.newStringRange(field, null, (String) value, true, inclusive);
    }
    throw error(op + " on '" + path + "' needs a number, date or string, got " + Utils.describeType(value));
  }

  /** The value as a long when it is integral and within long's range (exactly), else null. */
  static Long integral(Number value) {
    if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
      return value.longValue();
    }
    double d = value.doubleValue();
    // 2^63 itself is a double but no long: the range is [-2^63, 2^63).
    if (value instanceof Double && d == Math.rint(d) && d >= -0x1p63 && d < 0x1p63) {
      return (long) d;
    }
    return null;
  }

  /** The part of a range over the numbers indexed as longs, with the bound rounded exactly. */
  private static Query longRange(String path, Number value, boolean inclusive, boolean lower) {
    Long exact = integral(value);
    long bound;
    if (exact != null) {
      if (!inclusive && exact == (lower ? Long.MAX_VALUE : Long.MIN_VALUE)) {
        return new MatchNoDocsQuery();
      }
      bound = inclusive ? exact : exact + (lower ? 1 : -1);
    } else {
      double d = value.doubleValue();
      if (Double.isNaN(d)) {
        return new MatchNoDocsQuery();
      }
      // A fractional or out-of-range bound: the nearest long on the bound's inside.
      double rounded = lower ? Math.ceil(d) : Math.floor(d);
      if (rounded >= 0x1p63) {
        if (lower) {
          return new MatchNoDocsQuery();
        }
        bound = Long.MAX_VALUE; // above every long: all of them
      } else if (rounded < -0x1p63) {
        if (!lower) {
          return new MatchNoDocsQuery();
        }
        bound = Long.MIN_VALUE; // below every long: all of them
      } else {
        bound = (long) rounded;
      }
    }
    return lower
        ? LongPoint.newRangeQuery("i:" + path, bound, Long.MAX_VALUE)
        : LongPoint.newRangeQuery("i:" + path, Long.MIN_VALUE, bound);
  }

  /** The part of a range over the numbers indexed as doubles (fractions, huge, NaN, infinities). */
  private static Query doubleRange(String path, double bound, boolean inclusive, boolean lower) {
    if (!inclusive) {
      bound = lower ? Math.nextUp(bound) : Math.nextDown(bound);
    }
    return lower
        ? DoublePoint.newRangeQuery("n:" + path, bound, Double.POSITIVE_INFINITY)
        : DoublePoint.newRangeQuery("n:" + path, Double.NEGATIVE_INFINITY, bound);
  }

  private static Query not(Query query) {
    return new BooleanQuery.Builder()
        .add(new MatchAllDocsQuery(), Occur.MUST)
        .add(query, Occur.MUST_NOT)
        .build();
  }

  static MongoServerError error(String message) {
    return new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue", "$vectorSearch filter: " + message);
  }
}
