"""The replies of the seed's quickstart (a LangChain chat-model quickstart), in the order it
makes its calls: `tracer demo` gives them to `FakeChatModel` so the quickstart prints what the
seed shows. The `astream_log` reply is a list: the seed's own token boundaries, replayed."""

SEED_REPLIES: list[str | list[str]] = ['The purpose of model regularization is to prevent overfitting in machine learning models. '
 'Overfitting occurs when a model becomes too complex and starts to fit the noise in the training '
 'data, leading to poor generalization on unseen data. Regularization techniques introduce '
 "additional constraints or penalties to the model's objective function, discouraging it from "
 'becoming overly complex and promoting simpler and more generalizable models. Regularization '
 'helps to strike a balance between fitting the training data well and avoiding overfitting, '
 'leading to better performance on new, unseen data.',
 'The purpose of model regularization is to prevent overfitting and improve the generalization of '
 'a machine learning model. Overfitting occurs when a model is too complex and learns the noise or '
 'random variations in the training data, which leads to poor performance on new, unseen data. '
 "Regularization techniques introduce additional constraints or penalties to the model's learning "
 'process, discouraging it from fitting the noise and reducing the complexity of the model. This '
 "helps to improve the model's ability to generalize well and make accurate predictions on unseen "
 'data.',
 'The purpose of model regularization is to prevent overfitting in machine learning models. '
 'Overfitting occurs when a model becomes too complex and starts to learn the noise or random '
 'fluctuations in the training data, rather than the underlying patterns or relationships. '
 "Regularization techniques add a penalty term to the model's objective function, which "
 'discourages the model from becoming too complex and helps it generalize better to new, unseen '
 "data. This improves the model's ability to make accurate predictions on new data by reducing the "
 "variance and increasing the model's overall performance.",
 'The purpose of model regularization is to prevent overfitting in machine learning models. '
 'Overfitting occurs when a model becomes too complex and starts to memorize the training data '
 'instead of learning general patterns and relationships. This leads to poor performance on new, '
 'unseen data.\n'
 '\n'
 'Regularization techniques introduce additional constraints or penalties to the model during '
 'training, discouraging it from becoming overly complex. This helps to strike a balance between '
 'fitting the training data well and generalizing to new data. Regularization techniques can '
 'include adding a penalty term to the loss function, such as L1 or L2 regularization, or using '
 'techniques like dropout or early stopping. By regularizing the model, it encourages it to learn '
 'the most relevant features and reduce the impact of noise or outliers in the data.',
 'The purpose of model regularization is to prevent overfitting in machine learning models. '
 'Overfitting occurs when a model becomes too complex and starts to memorize the training data '
 'instead of learning the underlying patterns. Regularization techniques help in reducing the '
 'complexity of the model by adding a penalty to the loss function. This penalty encourages the '
 'model to have smaller weights or fewer features, making it more generalized and less prone to '
 'overfitting. The goal is to find the right balance between fitting the training data well and '
 'being able to generalize well to unseen data.',
 ['The',
  ' purpose',
  ' of',
  ' model',
  ' regularization',
  ' is',
  ' to',
  ' prevent',
  ' a',
  ' machine',
  ' learning',
  ' model',
  ' from',
  ' over',
  'fit',
  'ting',
  ' the',
  ' training',
  ' data',
  ' and',
  ' improve',
  ' its',
  ' general',
  'ization',
  ' ability',
  '.',
  ' Over',
  'fit',
  'ting',
  ' occurs',
  ' when',
  ' a',
  ' model',
  ' becomes',
  ' too',
  ' complex',
  ' and',
  ' learns',
  ' to',
  ' fit',
  ' the',
  ' noise',
  ' or',
  ' random',
  ' fluctuations',
  ' in',
  ' the',
  ' training',
  ' data',
  ',',
  ' instead',
  ' of',
  ' capturing',
  ' the',
  ' underlying',
  ' patterns',
  ' and',
  ' relationships',
  '.',
  ' Regular',
  'ization',
  ' techniques',
  ' introduce',
  ' a',
  ' penalty',
  ' term',
  ' to',
  ' the',
  ' model',
  "'s",
  ' objective',
  ' function',
  ',',
  ' which',
  ' discour',
  'ages',
  ' the',
  ' model',
  ' from',
  ' becoming',
  ' too',
  ' complex',
  '.',
  ' This',
  ' helps',
  ' to',
  ' control',
  ' the',
  ' model',
  "'s",
  ' complexity',
  ' and',
  ' reduces',
  ' the',
  ' risk',
  ' of',
  ' over',
  'fit',
  'ting',
  ',',
  ' leading',
  ' to',
  ' better',
  ' performance',
  ' on',
  ' unseen',
  ' data',
  '.'],
 "J'adore la programmation.",
 "J'adore la programmation.",
 "J'adore programmer.",
 "J'adore l'intelligence artificielle."]
